// The @huggingface/hub ceilings of the benchmark suite (bench_suite.py), against the emulator:
//   node bench_hfjs.mjs NS/NAME upload DIR PREFIX     every file under DIR in ONE uploadFiles call,
//                                                     as PREFIX/<relative path>
//   node bench_hfjs.mjs NS/NAME download PATH OUT     downloadFile, sha256 of the bytes, write OUT
//   node bench_hfjs.mjs NS/NAME download-tree PREFIX OUTDIR [CONCURRENCY]
//                                                     listFiles + downloadFile of every file under
//                                                     PREFIX, CONCURRENCY (8) at a time, written out
// Prints one JSON line {"seconds", ...}. HUB is the endpoint; the token is read from the 0600 file
// HF_TOKEN_FILE and never printed.
import { createHash } from "node:crypto";
import { mkdirSync, openAsBlob, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const hub = await import(new URL("../js/node_modules/@huggingface/hub/dist/index.mjs", import.meta.url));
const hubUrl = process.env.HUB;
const accessToken = readFileSync(process.env.HF_TOKEN_FILE, "utf8").trim();
const [name, cmd, ...args] = process.argv.slice(2);
const repo = { type: "dataset", name };

function walk(dir, out = []) {
	for (const e of readdirSync(dir, { withFileTypes: true })) {
		const p = join(dir, e.name);
		if (e.isDirectory()) walk(p, out);
		else if (e.isFile()) out.push(p);
	}
	return out;
}

async function main() {
	const t0 = performance.now();
	const res = {};
	if (cmd === "upload") {
		const [dir, prefix] = args;
		const files = [];
		for (const p of walk(dir)) files.push({ path: `${prefix}/${relative(dir, p)}`, content: await openAsBlob(p) });
		const r = await hub.uploadFiles({ repo, accessToken, hubUrl, commitTitle: "bench hfjs upload", files });
		res.files = files.length;
		res.commit = r.commit.oid;
	} else if (cmd === "download") {
		const [path, out] = args;
		const blob = await hub.downloadFile({ repo, path, accessToken, hubUrl });
		const buf = Buffer.from(await blob.arrayBuffer());
		res.sha256 = createHash("sha256").update(buf).digest("hex");
		res.bytes = buf.length;
		writeFileSync(out, buf);
	} else if (cmd === "download-tree") {
		const [prefix, outdir, conc] = [args[0], args[1], Number(args[2] || 8)];
		const paths = [];
		for await (const f of hub.listFiles({ repo, path: prefix, recursive: true, accessToken, hubUrl }))
			if (f.type === "file") paths.push(f.path);
		let next = 0;
		let bytes = 0;
		const worker = async () => {
			while (next < paths.length) {
				const p = paths[next++];
				const blob = await hub.downloadFile({ repo, path: p, accessToken, hubUrl });
				const buf = Buffer.from(await blob.arrayBuffer());
				const out = join(outdir, relative(prefix, p));
				mkdirSync(dirname(out), { recursive: true });
				writeFileSync(out, buf);
				bytes += buf.length;
			}
		};
		await Promise.all(Array.from({ length: conc }, worker));
		res.files = paths.length;
		res.bytes = bytes;
	} else {
		throw new Error(`unknown command ${cmd}`);
	}
	res.seconds = (performance.now() - t0) / 1000;
	console.log(JSON.stringify(res));
}

try {
	await main();
} catch (e) {
	console.error(`bench_hfjs ${cmd}: ${String(e.message).replaceAll(accessToken, "<token>")}`);
	process.exit(1);
}
