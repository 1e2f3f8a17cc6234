// Serializes every case of tests/host/golden_cases.txt with the official
// Earth Engine JavaScript client, offline (the algorithm list is loaded from
// data/algorithms-signatures.json; no request is sent), and writes one JSON
// file per case to the output directory.
//   node gen_goldens.js CASES ALGORITHMS OUTDIR   (NODE_PATH finds the client)
'use strict';
const fs = require('fs');
const path = require('path');
const ee = require('@google/earthengine');

const [casesPath, algsPath, outDir] = process.argv.slice(2);
const algs = JSON.parse(fs.readFileSync(algsPath, 'utf8'));
const reg = ee.rpc_convert.algorithms(algs);
ee.ApiFunction.api_ = {};
for (const [name, sig] of Object.entries(reg)) {
  sig.returns = sig.returns.replace(/<.*>/, '');
  for (const a of sig.args) a.type = a.type.replace(/<.*>/, '');
  ee.ApiFunction.api_[name] = new ee.ApiFunction(name, sig);
}
ee.initialize(null, null);

const cases = [];
let cur = null;
for (const line of fs.readFileSync(casesPath, 'utf8').split('\n')) {
  if (line.startsWith('== ')) {
    cur = {name: line.slice(3).trim()};
    cases.push(cur);
  } else if (line.startsWith('lua: ')) {
    cur.lua = line.slice(5);
  } else if (line.startsWith('js: ')) {
    cur.js = line.slice(4);
  }
}

fs.mkdirSync(outDir, {recursive: true});
for (const f of fs.readdirSync(outDir)) {
  if (f.endsWith('.json')) fs.unlinkSync(path.join(outDir, f));
}
for (const c of cases) {
  if (!c.lua || !c.js) throw new Error(`case ${c.name}: needs a lua: and a js: line`);
  const obj = new Function('ee', `return (${c.js});`)(ee);
  const expression = JSON.parse(ee.Serializer.toCloudApiJSON(obj));
  const out = {name: c.name, lua: c.lua, js: c.js, expression};
  fs.writeFileSync(path.join(outDir, c.name + '.json'), JSON.stringify(out, null, 1) + '\n');
}
console.log(`wrote ${cases.length} goldens to ${outDir}`);
