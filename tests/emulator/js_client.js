// Drives the official Earth Engine JavaScript client (npm @google/earthengine)
// against `eefetch serve` over loopback HTTP, the way its users run it in
// Node: a service-account key, ee.data.authenticateViaPrivateKey,
// ee.initialize(baseUrl, tileUrl, ...), then the client's own calls.
//
//   node js_client.js PLAN.json OUTDIR     (NODE_PATH finds the client)
//
// PLAN.json: {"base": "http://127.0.0.1:PORT", "key": "service-account.json",
//             "project": "P", "parts": [{"name", "kind", "js", ...}, ...]}
// Each part's "js" is an expression of `ee` (evaluated as gen_goldens.js
// does) giving the object to work on; "kind" says what the client does with
// it (a call, a download, an export to the emulator's bucket folder);
// "waitMs" delays it (to outlive a token). Every part runs even when another failed; OUTDIR/results.json gets
// {name: {ok, error, value, file, status, contentType, url}} and the
// pixel answers are written as files for tests/emulator/test_js_client.py
// to check against the reference model.
'use strict';
const fs = require('fs');
const path = require('path');
const ee = require('@google/earthengine');
const {connect} = require('./ee_node.js');

const [planPath, outDir] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planPath, 'utf8'));
const key = JSON.parse(fs.readFileSync(plan.key, 'utf8'));
const PART_TIMEOUT_MS = 60000;

function withTimeout(promise, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${PART_TIMEOUT_MS} ms`)),
                       PART_TIMEOUT_MS);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// The client's callback style (result, error) as a promise.
function cb(fn) {
  return new Promise((resolve, reject) => {
    fn((result, error) => (error ? reject(new Error(String(error))) : resolve(result)));
  });
}

// The REST layer answers with its generated classes, whose fields live
// under "Serializable$values" (null for fields the server left out): the
// plain JSON a user reads through their getters.
function plain(v) {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const fields = v['Serializable$values'] || v;
    const out = {};
    for (const [k, x] of Object.entries(fields)) {
      if (x !== null && x !== undefined) out[k] = plain(x);
    }
    return out;
  }
  return v;
}

function build(part) {
  return new Function('ee', `return (${part.js});`)(ee);
}

// A URL fetched as a browser or a script would: no credentials (EE's
// thumbnail and download URLs need none).
async function fetchTo(url, file) {
  const resp = await fetch(url);
  const data = Buffer.from(await resp.arrayBuffer());
  fs.writeFileSync(path.join(outDir, file), data);
  return {status: resp.status, contentType: resp.headers.get('content-type'),
          bytes: data.length};
}

const kinds = {
  // ComputedObject.getInfo with a callback (the documented async form).
  async getInfo(part) {
    return {value: await cb((done) => build(part).getInfo(done))};
  },
  // getInfo without a callback: a synchronous request, as Node scripts often do.
  async getInfoSync(part) {
    return {value: build(part).getInfo()};
  },
  // A computation EE refuses: the client's error carries EE's message.
  async getInfoError(part) {
    let value;
    try {
      value = await cb((done) => build(part).getInfo(done));
    } catch (e) {
      return {value: e.message};
    }
    throw new Error(`expected an error, got ${JSON.stringify(value)}`);
  },
  async evaluate(part) {
    return {value: await cb((done) => build(part).evaluate(done))};
  },
  // The JS client has no ee.data.computePixels (the Python client's); its
  // REST layer only takes JSON answers. A JS user sends the request
  // themselves with the client's serializer and token, which is done here.
  async computePixels(part) {
    const body = {expression: ee.Serializer.encodeCloudApi(build(part)),
                  fileFormat: part.fileFormat, grid: part.grid};
    if (part.bandIds) body.bandIds = part.bandIds;
    const url = `${plan.base}/v1/projects/${ee.data.getProject()}/image:computePixels`;
    const resp = await fetch(url, {
      method: 'POST', body: JSON.stringify(body),
      headers: {'Authorization': ee.data.getAuthToken(), 'Content-Type': 'application/json',
                'X-Goog-User-Project': ee.data.getProject()}});
    const data = Buffer.from(await resp.arrayBuffer());
    fs.writeFileSync(path.join(outDir, part.file), data);
    if (resp.status !== 200) {
      throw new Error(`HTTP ${resp.status}: ${data.toString('utf8', 0, 500)}`);
    }
    return {file: part.file, status: resp.status, contentType: resp.headers.get('content-type')};
  },
  async downloadURL(part) {
    const url = await cb((done) => build(part).getDownloadURL(part.params, done));
    const got = await fetchTo(url, part.file);
    if (got.status !== 200) {
      throw new Error(`GET ${url}: HTTP ${got.status}: ` +
                      fs.readFileSync(path.join(outDir, part.file), 'utf8').slice(0, 500));
    }
    return {url, file: part.file, ...got};
  },
  async thumbURL(part) {
    const url = await cb((done) => build(part).getThumbURL(part.params, done));
    const got = await fetchTo(url, part.file);
    if (got.status !== 200) {
      throw new Error(`GET ${url}: HTTP ${got.status}: ` +
                      fs.readFileSync(path.join(outDir, part.file), 'utf8').slice(0, 500));
    }
    return {url, file: part.file, ...got};
  },
  // getMap (what Map.addLayer does): maps.create, then one tile of the
  // URL pattern the client builds, fetched as a browser would.
  async mapTile(part) {
    const map = await cb((done) => build(part).getMap(part.params, done));
    const url = ee.data.getTileUrl(map, part.x, part.y, part.z);
    const got = await fetchTo(url, part.file);
    if (got.status !== 200) {
      throw new Error(`GET ${url}: HTTP ${got.status}: ` +
                      fs.readFileSync(path.join(outDir, part.file), 'utf8').slice(0, 500));
    }
    return {url, mapid: map.mapid, file: part.file, ...got};
  },
  async getAsset(part) {
    return {value: plain(await cb((done) => ee.data.getAsset(part.id, done)))};
  },
  // Export.image.toCloudStorage(...).start(), then ee.data.getTaskStatus
  // until the task is done (as a script waiting for its export does) and
  // ee.data.listOperations; the file itself is read by the Python side.
  async exportToCloudStorage(part) {
    const task = ee.batch.Export.image.toCloudStorage(
        Object.assign({image: build(part)}, part.params));
    await new Promise((resolve, reject) => task.start(resolve, (e) => reject(new Error(String(e)))));
    const seen = [];
    let status;
    for (;;) {
      status = (await cb((done) => ee.data.getTaskStatus(task.id, done)))[0];
      if (!seen.length || seen[seen.length - 1] !== status.state) seen.push(status.state);
      if (['COMPLETED', 'FAILED', 'CANCELLED', 'UNKNOWN'].includes(status.state)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ops = await cb((done) => ee.data.listOperations(50, done));
    return {value: {taskId: task.id, status, states: seen, listed: plain(ops).map((o) => o.name)}};
  },
  async listImages(part) {
    return {value: plain(await cb((done) => ee.data.listImages(part.parent, part.params, done)))};
  },
};

async function initialise() {
  await connect(ee, key, plan.base, plan.project, PART_TIMEOUT_MS);
  return {value: {token: /^Bearer \S+$/.test(ee.data.getAuthToken() || ''),
                  project: ee.data.getProject(),
                  imageMethods: Object.keys(ee.Image.prototype).length}};
}

async function main() {
  fs.mkdirSync(outDir, {recursive: true});
  const results = {};
  let ready = false;
  try {
    results.initialize = {ok: true, ...(await withTimeout(initialise(), 'initialize'))};
    ready = true;
  } catch (e) {
    results.initialize = {ok: false, error: String(e && e.stack || e)};
  }
  for (const part of plan.parts) {
    if (!ready) {
      results[part.name] = {ok: false, error: 'not run: the client did not initialise'};
      continue;
    }
    try {
      const run = kinds[part.kind];
      if (!run) throw new Error(`unknown kind ${part.kind}`);
      if (part.waitMs) await new Promise((resolve) => setTimeout(resolve, part.waitMs));
      results[part.name] = {ok: true, ...(await withTimeout(run(part), part.name))};
    } catch (e) {
      results[part.name] = {ok: false, error: String(e && e.message || e)};
    }
  }
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
