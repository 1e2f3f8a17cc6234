// The benchmark's client-library peer: the official Earth Engine JS client
// (npm @google/earthengine) fetching an image tile by tile with
// image:computePixels and a fixed number of requests in flight, the pattern
// of the libraries that read EE into arrays (Xee, restee). It keeps each
// answer in memory and writes nothing, so its time is the fetch alone.
//
//   node bench/js_peer.js CONFIG.json      (NODE_PATH finds the client)
//
// CONFIG.json: {"base", "key" (service-account file), "project", "image",
//   "bands", "crs", "transform": [a, b, c, d, e, f], "width", "height",
//   "tile": [w, h], "concurrency", "fileFormat" (default "NPY")}
// Prints one JSON line: {wall_s (first request to last answer), requests,
//   ok, http_429, retries, bytes, tiles}.
'use strict';
const fs = require('fs');
const path = require('path');
const ee = require('@google/earthengine');
const {connect} = require(path.join(__dirname, '..', 'tests', 'emulator', 'ee_node.js'));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const key = JSON.parse(fs.readFileSync(cfg.key, 'utf8'));
const MAX_TRIES = 8;          // per tile: 429 and 5xx are asked again
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tiles() {
  const [tw, th] = cfg.tile;
  const [a, b, c, d, e, f] = cfg.transform;
  const out = [];
  for (let y = 0; y < cfg.height; y += th) {
    for (let x = 0; x < cfg.width; x += tw) {
      out.push({
        dimensions: {width: Math.min(tw, cfg.width - x), height: Math.min(th, cfg.height - y)},
        affineTransform: {scaleX: a, shearX: b, translateX: c + a * x + b * y,
                          shearY: d, scaleY: e, translateY: f + d * x + e * y},
        crsCode: cfg.crs,
      });
    }
  }
  return out;
}

async function main() {
  await connect(ee, key, cfg.base, cfg.project, 120000);
  const expression = ee.Serializer.encodeCloudApi(ee.Image(cfg.image).select(cfg.bands));
  const url = `${cfg.base}/v1/projects/${cfg.project}/image:computePixels`;
  const queue = tiles();
  const n = queue.length;
  const st = {requests: 0, ok: 0, http_429: 0, retries: 0, bytes: 0};

  async function fetchTile(grid) {
    for (let attempt = 0; ; attempt++) {
      st.requests++;
      const resp = await fetch(url, {
        method: 'POST',
        body: JSON.stringify({expression, fileFormat: cfg.fileFormat || 'NPY', grid}),
        headers: {'Authorization': ee.data.getAuthToken(), 'Content-Type': 'application/json',
                  'X-Goog-User-Project': cfg.project}});
      const body = Buffer.from(await resp.arrayBuffer());
      if (resp.status === 200) {
        st.ok++;
        st.bytes += body.length;
        return;
      }
      if (resp.status === 429) st.http_429++;
      if ((resp.status !== 429 && resp.status < 500) || attempt + 1 >= MAX_TRIES) {
        throw new Error(`HTTP ${resp.status}: ${body.toString('utf8', 0, 300)}`);
      }
      st.retries++;
      // Exponential back-off with full jitter, as the client libraries do.
      await sleep(Math.random() * Math.min(30000, 500 * 2 ** attempt));
    }
  }

  const t0 = process.hrtime.bigint();
  async function worker() {
    for (let g = queue.shift(); g; g = queue.shift()) await fetchTile(g);
  }
  await Promise.all(Array.from({length: Math.min(cfg.concurrency, n)}, worker));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({wall_s: wall, tiles: n, ...st}));
}

main().catch((e) => {
  console.error(`js_peer: ${e.message}`);
  process.exit(1);
});
