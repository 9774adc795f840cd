// The official @huggingface/hub client (tests/js/node_modules) as a second writer and an
// independent reader of a persist/ Dataset, for the scenario tests:
//   node hfjs_tool.mjs NS/NAME upload PATH=LOCALFILE... [--title T]   one commit, prints its oid
//   node hfjs_tool.mjs NS/NAME sha PATH...        "path sha256" per file ("path missing")
//   node hfjs_tool.mjs NS/NAME files              "path size lfs|git" per file, sorted
//   node hfjs_tool.mjs NS/NAME commits            "oid title" per commit, newest first
//   node hfjs_tool.mjs NS/NAME writer PREFIX N PAUSE_MS   N commits of PREFIX-i.txt, "path sha256" each
// HUB is the endpoint; the token is read from the 0600 file HF_TOKEN_FILE and never printed.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

const hub = await import(new URL("../js/node_modules/@huggingface/hub/dist/index.mjs", import.meta.url));
const hubUrl = process.env.HUB;
const accessToken = readFileSync(process.env.HF_TOKEN_FILE, "utf8").trim();
const [name, cmd, ...args] = process.argv.slice(2);
const repo = { type: "dataset", name };
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function download(path) {
	const blob = await hub.downloadFile({ repo, path, accessToken, hubUrl });
	return blob ? Buffer.from(await blob.arrayBuffer()) : null;
}

async function main() {
	if (cmd === "upload") {
		let title = "hfjs upload";
		const files = [];
		for (let i = 0; i < args.length; i++) {
			if (args[i] === "--title") title = args[++i];
			else {
				const eq = args[i].indexOf("=");
				files.push({ path: args[i].slice(0, eq), content: new Blob([readFileSync(args[i].slice(eq + 1))]) });
			}
		}
		const res = await hub.uploadFiles({ repo, accessToken, hubUrl, commitTitle: title, files });
		console.log(res.commit.oid);
	} else if (cmd === "sha") {
		for (const p of args) {
			const buf = await download(p);
			console.log(`${p} ${buf ? sha256(buf) : "missing"}`);
		}
	} else if (cmd === "files") {
		const rows = [];
		for await (const f of hub.listFiles({ repo, recursive: true, accessToken, hubUrl }))
			if (f.type === "file") rows.push(`${f.path} ${f.size} ${f.lfs ? "lfs" : "git"}`);
		console.log(rows.sort().join("\n"));
	} else if (cmd === "commits") {
		for await (const c of hub.listCommits({ repo, accessToken, hubUrl })) console.log(`${c.oid} ${c.title}`);
	} else if (cmd === "writer") {
		const [prefix, n, pause] = [args[0], Number(args[1]), Number(args[2])];
		for (let i = 0; i < n; i++) {
			const path = `${prefix}-${i}.txt`;
			const buf = Buffer.from(`from hfjs ${i} ${randomBytes(8).toString("hex")}\n`);
			await hub.uploadFile({ repo, accessToken, hubUrl, file: { path, content: new Blob([buf]) }, commitTitle: `hfjs ${path}` });
			console.log(`${path} ${sha256(buf)}`);
			await sleep(pause);
		}
	} else {
		throw new Error(`unknown command ${cmd}`);
	}
}

try {
	await main();
} catch (e) {
	console.error(`hfjs_tool ${cmd}: ${String(e.message).replaceAll(accessToken, "<token>")}`);
	process.exit(1);
}
