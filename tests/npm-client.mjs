// Drive the official openai npm package against dalle-serve.
// usage: node npm-client.mjs openai|azure|azure-gpt|azure-error BASE_URL
// Prints one JSON object describing the outcome on stdout.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '.node', 'package.json'));
const { OpenAI, AzureOpenAI } = require('openai');

const [mode, base] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function main() {
	if (mode === 'openai') {
		const client = new OpenAI({ apiKey: 'sk-npm-test', baseURL: base + 'v1', maxRetries: 0 });
		const r = await client.images.generate({ model: 'dall-e-3', prompt: 'A lighthouse at dusk', size: '1024x1024' });
		out({ n: r.data.length, url: r.data[0].url, revised_prompt: r.data[0].revised_prompt });
	} else if (mode === 'azure' || mode === 'azure-gpt') {
		const gpt = mode === 'azure-gpt';
		const client = new AzureOpenAI({
			endpoint: base, apiKey: 'npm-azure-key', maxRetries: 0,
			apiVersion: gpt ? '2025-04-01-preview' : '2024-02-01',
			deployment: gpt ? 'gpt-image-1' : 'dalle3',
		});
		const r = await client.images.generate(gpt ?
		    { model: 'gpt-image-1', prompt: 'A kite', size: '1536x1024', quality: 'low' } :
		    { prompt: 'A kite', n: 1, size: '1024x1024' });
		out({ n: r.data.length, url: r.data[0].url ?? null,
		    b64_len: r.data[0].b64_json ? r.data[0].b64_json.length : 0,
		    b64_head: r.data[0].b64_json ? r.data[0].b64_json.slice(0, 8) : null,
		    revised_prompt: r.data[0].revised_prompt ?? null, usage: r.usage ?? null });
	} else if (mode === 'azure-error') {
		const client = new AzureOpenAI({ endpoint: base, apiKey: 'npm-azure-key', maxRetries: 0,
		    apiVersion: '2024-02-01', deployment: 'no-such-deployment' });
		try {
			await client.images.generate({ prompt: 'x' });
			out({ thrown: false });
		} catch (e) {
			out({ thrown: true, status: e.status, code: e.code ?? e.error?.code ?? null });
		}
	} else if (mode === 'retry') {
		// A 429 with retry-after-ms is retried by the SDK and then succeeds.
		const client = new OpenAI({ apiKey: 'sk-npm-test', baseURL: base + 'v1', maxRetries: 2 });
		const t0 = Date.now();
		await client.images.generate({ prompt: 'first', size: '256x256' });
		const r = await client.images.generate({ prompt: 'second', size: '256x256' });
		out({ n: r.data.length, ms: Date.now() - t0 });
	} else {
		throw new Error('unknown mode ' + mode);
	}
}

main().catch((e) => { out({ error: String(e) }); process.exit(1); });
