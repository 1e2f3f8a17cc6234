// Connects the official Earth Engine JS client (npm @google/earthengine) to
// an Earth Engine endpoint with a service-account key, as its Node users do:
// ee.data.authenticateViaPrivateKey, then ee.initialize(base, base, ...,
// project). Shared by tests/emulator/js_client.js and bench/js_peer.js.
'use strict';

// The client signs its JWT with google-auth-library's gtoken, which posts to
// its built-in https://www.googleapis.com/oauth2/v4/token and ignores the
// key's token_uri (checked in gtoken 5.3.2, the version @google/earthengine
// 1.7.45 installs). A user of a private token endpoint has no setting for
// it, so this one request is sent to the key's token_uri instead; the JWT,
// its signature and the grant are the client's own.
function routeTokenRequests(tokenUri) {
  const gaxios = require('gaxios');
  const google = new Set([
    'https://www.googleapis.com/oauth2/v4/token',
    'https://oauth2.googleapis.com/token',
  ]);
  const inst = gaxios.instance;
  const request = inst.request.bind(inst);
  inst.request = (opts) => request(google.has(opts.url) ? {...opts, url: tokenUri} : opts);
}

// Resolves once the client holds a token and the algorithm list.
async function connect(ee, key, base, project, deadlineMs) {
  routeTokenRequests(key.token_uri);
  await new Promise((resolve, reject) => {
    ee.data.authenticateViaPrivateKey(key, resolve, (e) => reject(new Error(String(e))));
  });
  ee.data.setDeadline(deadlineMs);
  await new Promise((resolve, reject) => {
    ee.initialize(base, base, resolve, (e) => reject(new Error(String(e))), null, project);
  });
}

module.exports = {connect};
