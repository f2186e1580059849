// An HTTP/2-only TLS reverse proxy for tests/http2.bats: it shows whether
// the clients multiplex.  Node's own http2 module, no packages.
//
//   node h2-proxy.mjs KEY CERT UPSTREAM-FILE STATS-FILE
//
// Listens on 127.0.0.1, a free port, and prints its base URL.  Every
// request goes to the http:// URL that UPSTREAM-FILE holds (read when the
// first request comes, so the upstream may start after the proxy).  On
// SIGTERM or SIGINT it writes what it saw to STATS-FILE as JSON and exits:
// sessions (connections), streams, and the peak of concurrent streams on
// one session.  It also exits after 10 minutes, should nobody stop it.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';

const [keyFile, certFile, upstreamFile, statsFile] = process.argv.slice(2);
if (!statsFile) {
	console.error('usage: h2-proxy.mjs key cert upstream-file stats-file');
	process.exit(64);
}

// Connection-specific headers that HTTP/2 forbids, and HTTP/2's pseudo
// headers, which are not HTTP/1.1 headers.
const hop = new Set(['connection', 'keep-alive', 'proxy-connection',
	'transfer-encoding', 'upgrade', 'host', 'http2-settings']);

const stats = { sessions: 0, streams: 0, peak: 0, alpn: {},
	upstream_errors: 0, tls_errors: 0, per_session: [] };
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
let upstream = null;

function upstreamUrl() {
	if (upstream === null) {
		try {
			const s = fs.readFileSync(upstreamFile, 'utf8').trim();

			if (s !== '')
				upstream = new URL(s);
		} catch (e) {
			// not written yet
		}
	}
	return upstream;
}

function forward(req, res) {
	const up = upstreamUrl();
	const headers = {};

	if (up === null) {
		res.writeHead(503, { 'content-type': 'text/plain' });
		res.end('h2-proxy: no upstream yet\n');
		return;
	}

	for (const [k, v] of Object.entries(req.headers))
		if (!k.startsWith(':') && !hop.has(k))
			headers[k] = v;
	headers.host = up.host;
	const preq = http.request({
		agent, host: up.hostname, port: up.port, method: req.method,
		path: req.url, headers,
	}, (pres) => {
		const out = {};

		for (const [k, v] of Object.entries(pres.headers))
			if (!hop.has(k))
				out[k] = v;
		res.writeHead(pres.statusCode, out);
		pres.pipe(res);
	});
	preq.on('error', (e) => {
		stats.upstream_errors++;
		stats.upstream_error = e.message;
		if (!res.headersSent)
			res.writeHead(502, { 'content-type': 'text/plain' });
		res.end(`h2-proxy: ${e.message}\n`);
	});
	req.pipe(preq);
}

const server = http2.createSecureServer({
	key: fs.readFileSync(keyFile),
	cert: fs.readFileSync(certFile),
	ALPNProtocols: ['h2'],
	allowHTTP1: false,
});

server.on('session', (session) => {
	const s = { streams: 0, peak: 0, alpn: null };
	let active = 0;

	stats.sessions++;
	stats.per_session.push(s);
	session.on('stream', (stream) => {
		s.alpn = session.alpnProtocol;
		s.streams++;
		stats.streams++;
		active++;
		s.peak = Math.max(s.peak, active);
		stats.peak = Math.max(stats.peak, active);
		stream.on('close', () => active--);
	});
});
server.on('secureConnection', (sock) => {
	const p = sock.alpnProtocol || 'none';

	stats.alpn[p] = (stats.alpn[p] || 0) + 1;
});
server.on('tlsClientError', () => stats.tls_errors++);
server.on('unknownProtocol', (sock) => sock.destroy());
server.on('request', forward);

function stop() {
	fs.writeFileSync(statsFile + '.tmp', JSON.stringify(stats) + '\n');
	fs.renameSync(statsFile + '.tmp', statsFile);
	process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 600 * 1000).unref();

server.listen(0, '127.0.0.1', () => {
	console.log(`https://127.0.0.1:${server.address().port}/`);
});
