// The baseline a Node user would write with the official openai package:
// a pool of C workers calling images.generate on an Azure deployment.  An
// answer with b64_json (GPT image models) is decoded with Buffer.from and
// written; one with a URL (DALL-E) is downloaded with fetch.  The image of
// the K-th prompt (from 1) goes to OUTDIR/K.png.  Used by bench/run.sh.
// usage: node openai-pool.mjs NODE_PREFIX DEPLOYMENT WORKERS OUTDIR <prompts
// Environment: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY.
import { createRequire } from 'node:module';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

const [prefix, deployment, workers, dir] = process.argv.slice(2);
const require = createRequire(path.resolve(prefix, 'package.json'));
const { AzureOpenAI } = require('openai');

const chunks = [];
for await (const c of process.stdin)
	chunks.push(c);
const prompts = Buffer.concat(chunks).toString().split('\n').filter((p) => p !== '');

const client = new AzureOpenAI({
	endpoint: process.env.AZURE_OPENAI_ENDPOINT,
	apiKey: process.env.AZURE_OPENAI_API_KEY,
	apiVersion: '2024-02-01',
	deployment,
});

let next = 0;
let failed = 0;
async function worker() {
	while (next < prompts.length) {
		const i = next++;
		try {
			const r = await client.images.generate({ prompt: prompts[i], n: 1, size: '1024x1024' });
			let img;
			if (r.data[0].b64_json) {
				img = Buffer.from(r.data[0].b64_json, 'base64');
			} else {
				const res = await fetch(r.data[0].url);
				if (!res.ok)
					throw new Error(`HTTP ${res.status}`);
				img = Buffer.from(await res.arrayBuffer());
			}
			await writeFile(path.join(dir, `${i + 1}.png`), img);
		} catch (e) {
			failed++;
			process.stderr.write(`openai-pool: ${prompts[i]}: ${e}\n`);
		}
	}
}

await Promise.all(Array.from({ length: Number(workers) }, worker));
process.exitCode = failed ? 1 : 0;
