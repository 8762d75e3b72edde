// The tests' SDK driver: a loopback HTTP server that makes real client
// calls to the gateway when a test block asks, so that a Test::Nginx block
// (which can only send a request to nginx) gets the outcome of an SDK call
// as its response.  Started by t/lib/Bedrock/Sdk.pm.
//
// Paths may start with /_sdk (the location the tests proxy from).
//
//   POST /js/OP      the AWS SDK for JavaScript v3, unmodified
//   POST /boto3/OP   boto3, run by boto3_client.py
//        OP: converse, converse-stream, invoke, invoke-stream
//        body (JSON): endpoint, http ("2" default, "1.1"), key, secret,
//        region, model, text, maxTokens, headers (extra request headers)
//        answer: 200 and {"ok":true,"text":..,"usage":..,"events":[..]}
//        or {"ok":false,"error":{"name":..,"message":..,"status":..}}
//   POST /doc/NAME   runs the example of docs/clients.md marked
//        "<!-- tested: NAME -->" as it is written there, with only its
//        endpoint (http://gateway.internal:PORT) replaced by the body's
//        "endpoint": {"exit":N,"stdout":..,"stderr":..}
//   ANY  /curl/PATH      runs curl with the request's method, headers and
//        /curl-h2c/PATH  body toward https://gateway.test/PATH (the TLS
//        port; HTTP/2 unless X-Curl-Options says --http1.1) or
//        http://gateway.test/PATH (cleartext HTTP/2, prior knowledge);
//        answers with the response curl got, plus X-Curl-Http-Version and,
//        for an eventstream, X-Events: the event types of its frames (CRCs
//        checked).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) {
  opt[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}

let sdk;

function loadSdk() {
  if (!sdk) {
    const require = createRequire(path.join(opt.modules, 'package.json'));
    sdk = {
      br: require('@aws-sdk/client-bedrock-runtime'),
      h1: require('@smithy/node-http-handler'),
    };
  }
  return sdk;
}

const anthropic = (a) => JSON.stringify({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: a.maxTokens ?? 64,
  messages: [{ role: 'user', content: [{ type: 'text', text: a.text ?? 'Hello' }] }],
});

function jsClient(a) {
  const { br, h1 } = loadSdk();
  const config = {
    region: a.region ?? 'us-east-1',
    endpoint: a.endpoint,
    credentials: { accessKeyId: a.key, secretAccessKey: a.secret },
  };

  if (a.maxAttempts) {
    config.maxAttempts = a.maxAttempts;
  }

  if (a.http === '1.1') {
    // the SDK's own handler for HTTP/1.1 servers; the CA comes from
    // NODE_EXTRA_CA_CERTS, as for the default HTTP/2 handler
    config.requestHandler = new h1.NodeHttpHandler({
      httpsAgent: new https.Agent({ keepAlive: true }),
    });
  }

  const client = new br.BedrockRuntimeClient(config);

  if (a.headers) {
    client.middlewareStack.add((next) => async (args) => {
      Object.assign(args.request.headers, a.headers);
      return next(args);
    }, { step: 'build', name: 'testHeaders' });
  }

  return { client, br };
}

async function runJs(op, a) {
  const { client, br } = jsClient(a);
  const model = a.model ?? 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';
  const messages = [{ role: 'user', content: [{ text: a.text ?? 'Hello' }] }];
  const inferenceConfig = { maxTokens: a.maxTokens ?? 64 };
  const res = { ok: true, events: [], text: '' };

  try {
    if (op === 'converse') {
      const r = await client.send(new br.ConverseCommand(
        { modelId: model, messages, inferenceConfig }));
      res.text = r.output.message.content.map((c) => c.text).join('');
      res.usage = r.usage;
      res.stopReason = r.stopReason;
      res.attempts = r.$metadata.attempts;

    } else if (op === 'converse-stream') {
      const r = await client.send(new br.ConverseStreamCommand(
        { modelId: model, messages, inferenceConfig }));
      for await (const ev of r.stream) {
        const name = Object.keys(ev).find((k) => ev[k] !== undefined);
        res.events.push(name);
        if (name === 'contentBlockDelta') {
          res.text += ev.contentBlockDelta.delta.text ?? '';
        } else if (name === 'messageStop') {
          res.stopReason = ev.messageStop.stopReason;
        } else if (name === 'metadata') {
          res.usage = ev.metadata.usage;
        }
      }
      res.attempts = r.$metadata.attempts;

    } else if (op === 'invoke') {
      const r = await client.send(new br.InvokeModelCommand({
        modelId: model, contentType: 'application/json',
        accept: 'application/json', body: anthropic(a),
      }));
      const body = JSON.parse(new TextDecoder().decode(r.body));
      res.text = body.content.map((c) => c.text).join('');
      res.usage = body.usage;
      res.stopReason = body.stop_reason;
      res.attempts = r.$metadata.attempts;

    } else if (op === 'invoke-stream') {
      const r = await client.send(new br.InvokeModelWithResponseStreamCommand({
        modelId: model, contentType: 'application/json',
        accept: 'application/json', body: anthropic(a),
      }));
      for await (const ev of r.body) {
        const chunk = JSON.parse(new TextDecoder().decode(ev.chunk.bytes));
        res.events.push(chunk.type);
        if (chunk.type === 'content_block_delta') {
          res.text += chunk.delta.text ?? '';
        } else if (chunk.type === 'message_delta') {
          res.stopReason = chunk.delta.stop_reason;
          res.usage = { ...res.usage, output_tokens: chunk.usage?.output_tokens };
        } else if (chunk.type === 'message_start') {
          res.usage = { input_tokens: chunk.message.usage.input_tokens };
        }
      }
      res.attempts = r.$metadata.attempts;

    } else {
      throw new Error(`unknown operation ${op}`);
    }
  } catch (e) {
    return {
      ok: false,
      error: {
        name: e.name,
        message: e.message,
        status: e.$metadata?.httpStatusCode,
        fault: e.$fault,
        attempts: e.$metadata?.attempts,
      },
    };
  } finally {
    client.destroy();
  }

  return res;
}

function runBoto3(op, a) {
  return new Promise((resolve) => {
    const child = spawn(opt.python, [opt.boto3], {
      env: {
        ...process.env,
        AWS_DATA_PATH: opt.models,
        AWS_CA_BUNDLE: opt.ca,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        resolve({ ok: false, error: { name: 'DriverError', message: `boto3_client.py exited ${code}: ${err}${out}` } });
      }
    });
    child.stdin.end(JSON.stringify({ op, ...a }));
  });
}

// the example after "<!-- tested: NAME -->" in the docs, run as a user
// would: node from the directory holding node_modules, or python3
function runDoc(name, a) {
  return new Promise((resolve) => {
    const text = fs.readFileSync(opt.docs, 'utf8');
    const m = text.match(new RegExp(`<!-- tested: ${name} -->\\s*\`\`\`(\\w+)\\n([\\s\\S]*?)\`\`\``));
    if (!m) {
      resolve({ exit: -1, stdout: '', stderr: `no example "${name}" in ${opt.docs}` });
      return;
    }
    const code = m[2].replace(/http:\/\/gateway\.internal:\d+/g, a.endpoint);
    const python = m[1] === 'python';
    const file = path.join(opt.modules, `doc-example-${name}.${python ? 'py' : 'mjs'}`);
    fs.writeFileSync(file, code);
    const child = spawn(python ? opt.python : 'node', [file], {
      env: { ...process.env, AWS_DATA_PATH: opt.models, AWS_CA_BUNDLE: opt.ca,
        AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (exit) => resolve({ exit, stdout, stderr }));
  });
}

const hopByHop = new Set(['host', 'connection', 'content-length',
  'transfer-encoding', 'keep-alive', 'expect', 'te', 'upgrade']);

// eventstream frames: their :event-type (or :exception-type) headers, in
// order, or where the framing or a CRC is wrong
function eventTypes(buf) {
  const types = [];
  let pos = 0;

  while (pos < buf.length) {
    if (buf.length - pos < 16) {
      return `${types.join(',')},truncated at ${pos}`;
    }
    const total = buf.readUInt32BE(pos);
    const hlen = buf.readUInt32BE(pos + 4);
    if (total < 16 || pos + total > buf.length
        || zlib.crc32(buf.subarray(pos, pos + 8)) !== buf.readUInt32BE(pos + 8)
        || zlib.crc32(buf.subarray(pos, pos + total - 4))
           !== buf.readUInt32BE(pos + total - 4)) {
      return `${types.join(',')},bad frame at ${pos}`;
    }
    const headers = {};
    let h = pos + 12;
    while (h < pos + 12 + hlen) {
      const nlen = buf[h];
      const name = buf.toString('latin1', h + 1, h + 1 + nlen);
      const type = buf[h + 1 + nlen];
      if (type !== 7) {
        return `${types.join(',')},header type ${type} at ${h}`;
      }
      const vlen = buf.readUInt16BE(h + 2 + nlen);
      headers[name] = buf.toString('utf8', h + 4 + nlen, h + 4 + nlen + vlen);
      h += 4 + nlen + vlen;
    }
    types.push(headers[':event-type'] ?? `exception:${headers[':exception-type']}`);
    pos += total;
  }

  return types.join(',');
}

// curl toward gateway.test: over TLS (/curl/PATH: HTTP/2 by ALPN unless
// X-Curl-Options says --http1.1) or cleartext HTTP/2 (/curl-h2c/PATH)
function runCurl(req, body) {
  return new Promise((resolve) => {
    const h2c = req.url.startsWith('/curl-h2c/');
    const target = req.url.replace(/^\/curl(-h2c)?/, '');
    const args = ['-sS', '-i', '--max-time', '20', '-X', req.method,
      '-H', 'Expect:', '-H', 'Accept:', '-H', 'User-Agent:'];

    // gateway.test is the name the certificate and the signatures carry
    if (h2c) {
      args.push('--http2-prior-knowledge', '--connect-to',
        `gateway.test:80:127.0.0.1:${opt['h2c-port']}`);
    } else {
      args.push('--http2', '--cacert', opt.ca, '--connect-to',
        `gateway.test:443:127.0.0.1:${opt['tls-port']}`);
    }

    args.push(...(req.headers['x-curl-options'] ?? '').split(/\s+/).filter(Boolean));

    for (const [name, value] of Object.entries(req.headers)) {
      if (!hopByHop.has(name) && !name.startsWith('x-curl-')) {
        args.push('-H', `${name}: ${value}`);
      }
    }

    if (body.length) {
      args.push('--data-binary', '@-');
    }

    args.push((h2c ? 'http://gateway.test' : 'https://gateway.test') + target);

    const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => resolve({ code, out: Buffer.concat(out), err, args }));
    child.stdin.end(body);
  });
}

async function curlHandler(req, res, body) {
  const r = await runCurl(req, body);
  const end = r.out.indexOf('\r\n\r\n');

  if (r.code !== 0 || end < 0) {
    res.writeHead(599, { 'content-type': 'text/plain' });
    res.end(`curl exited ${r.code}: ${r.err}\n${r.args.join(' ')}\n`);
    return;
  }

  const lines = r.out.subarray(0, end).toString('latin1').split('\r\n');
  const [, version, status] = lines[0].match(/^HTTP\/(\S+) (\d+)/);
  const content = r.out.subarray(end + 4);
  const headers = [];
  for (const line of lines.slice(1)) {
    const m = line.match(/^([^:]+):\s*(.*)$/);
    if (m && !hopByHop.has(m[1].toLowerCase())) {
      headers.push(m[1], m[2]);
      if (m[2].startsWith('application/vnd.amazon.eventstream')) {
        headers.push('X-Events', eventTypes(content));
      }
    }
  }
  headers.push('X-Curl-Http-Version', version);
  res.writeHead(Number(status), headers);
  res.end(content);
}

const server = http.createServer((req, res) => {
  req.url = req.url.replace(/^\/_sdk\//, '/');
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    try {
      if (/^\/curl(-h2c)?\//.test(req.url)) {
        await curlHandler(req, res, body);
        return;
      }

      const m = req.url.match(/^\/(js|boto3|doc)\/([a-z0-9-]+)$/);
      if (!m || req.method !== 'POST') {
        res.writeHead(404);
        res.end();
        return;
      }

      const a = JSON.parse(body.toString() || '{}');
      const run = { js: runJs, boto3: runBoto3, doc: runDoc }[m[1]];
      const out = await run(m[2], a);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out) + '\n');
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`driver: ${e.stack}\n`);
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(opt['port-file'], `${server.address().port}\n`);
});

// stop with the test process that started us, even if it was killed
setInterval(() => {
  try {
    process.kill(Number(opt['parent-pid']), 0);
  } catch (e) {
    process.exit(0);
  }
}, 500).unref();

process.on('SIGTERM', () => process.exit(0));
