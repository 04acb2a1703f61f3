// A small closed-loop HTTP/1.1 load generator for bench/run.sh: keeps
// CONCURRENCY POST requests in flight on keep-alive connections for
// SECONDS and prints one JSON object: requests, ok (HTTP 200 and, for
// "introspect", "active": true; for "jwt", an ES256 JWT), elapsed_s,
// throughput (ok per second), p50_ms, p99_ms.
//
// Usage: node http_load.mjs URL BASIC_AUTH BODY CONCURRENCY SECONDS CHECK
// CHECK is "introspect" or "jwt". BODY may contain @TOKEN@, replaced by
// an opaque token fetched first with grant_type=client_credentials.
import http from 'node:http';

const [url, auth, bodyTemplate, concurrencyArg, secondsArg, check] =
  process.argv.slice(2);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);
const tokenUrl = new URL('/token', target);

function post(where, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({
      agent, method: 'POST', host: where.hostname, port: where.port,
      path: where.pathname,
      headers: {
        authorization: `Basic ${Buffer.from(auth).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
      },
    }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({
        status: response.statusCode, body: Buffer.concat(chunks).toString(),
      }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

function good(response) {
  if (response.status !== 200) return false;
  const json = JSON.parse(response.body);
  if (check === 'introspect') return json.active === true;
  const token = json.access_token ?? '';
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url'));
  return header.alg === 'ES256' && token.split('.').length === 3;
}

let body = bodyTemplate;
if (body.includes('@TOKEN@')) {
  const issued = await post(tokenUrl, 'grant_type=client_credentials');
  const token = JSON.parse(issued.body).access_token;
  if (!token) throw new Error(`no token: ${issued.status} ${issued.body}`);
  body = body.replace('@TOKEN@', encodeURIComponent(token));
}

const latencies = [];
let requests = 0;
let ok = 0;
let firstBad = '';
const start = process.hrtime.bigint();
const end = start + BigInt(Math.round(seconds * 1e9));

async function worker() {
  while (process.hrtime.bigint() < end) {
    const before = process.hrtime.bigint();
    const response = await post(target, body);
    latencies.push(Number(process.hrtime.bigint() - before) / 1e6);
    requests += 1;
    if (good(response)) ok += 1;
    else if (!firstBad) firstBad = `${response.status} ${response.body}`;
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
latencies.sort((a, b) => a - b);
const quantile = (q) =>
  latencies[Math.max(0, Math.ceil(q * latencies.length) - 1)] ?? 0;
console.log(JSON.stringify({
  requests, ok, elapsed_s: elapsed, throughput: ok / elapsed,
  p50_ms: quantile(0.5), p99_ms: quantile(0.99), concurrency,
  first_bad: firstBad.slice(0, 300),
}));
agent.destroy();
