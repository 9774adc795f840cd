// Drives the Hub emulator with the official @huggingface/hub client, the way a JS user would:
// whoAmI, listSpaces, spaceInfo, createRepo, uploadFiles (small, basic LFS and multipart LFS),
// listFiles, downloadFile, pathsInfo, deleteFile, listCommits, deleteRepo and a few error cases.
// Reads HUB (base URL), HF_TOKEN and WORKDIR from the environment; prints one JSON object of
// observations for tests/hub/tests/test_hfjs.sh to assert on. Never prints the token.
import { createHash, randomBytes } from "node:crypto";
import * as hub from "@huggingface/hub";

const hubUrl = process.env.HUB;
const accessToken = process.env.HF_TOKEN;
const out = {};
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

async function errorOf(promise) {
	try {
		await promise;
		return null;
	} catch (e) {
		return { status: e.statusCode ?? null, message: String(e.message).replaceAll(accessToken, "<token>") };
	}
}

async function collect(iter) {
	const items = [];
	for await (const x of iter) items.push(x);
	return items;
}

const who = await hub.whoAmI({ accessToken, hubUrl });
out.whoami = { name: who.name, type: who.type };

const spaces = await collect(hub.listSpaces({ search: { owner: "alice" }, accessToken, hubUrl }));
out.spaces = spaces.map((s) => s.name).sort();

const info = await hub.spaceInfo({ name: "alice/chat", hubUrl, additionalFields: ["runtime"] });
out.spaceInfo = { name: info.name, sdk: info.sdk, private: info.private };

const repo = { type: "dataset", name: "alice/js-data" };
const created = await hub.createRepo({ repo, accessToken, hubUrl, private: true });
out.created = created.repoUrl;
out.createAgain = await errorOf(hub.createRepo({ repo, accessToken, hubUrl }));

const small = Buffer.from("hello from huggingface.js\n");
const mid = randomBytes(1536 * 1024); // LFS by pattern (*.bin), below the multipart threshold
const big = randomBytes(5 * 1024 * 1024 + 12345); // LFS, multipart
const commit = await hub.uploadFiles({
	repo,
	accessToken,
	hubUrl,
	commitTitle: "upload from js",
	files: [
		{ path: "small.txt", content: new Blob([small]) },
		{ path: "data/mid.bin", content: new Blob([mid]) },
		{ path: "data/big.bin", content: new Blob([big]) },
	],
});
out.commitOid = commit.commit.oid;

const files = await collect(hub.listFiles({ repo, recursive: true, accessToken, hubUrl }));
out.files = Object.fromEntries(files.map((f) => [f.path, { type: f.type, size: f.size, lfs: f.lfs?.oid ?? null }]));

const dl = async (path) => Buffer.from(await (await hub.downloadFile({ repo, path, accessToken, hubUrl })).arrayBuffer());
out.download = {
	small: (await dl("small.txt")).toString(),
	mid: sha256(await dl("data/mid.bin")) === sha256(mid),
	big: sha256(await dl("data/big.bin")) === sha256(big),
	missing: await hub.downloadFile({ repo, path: "nope.txt", accessToken, hubUrl }),
};
out.expected = { mid: sha256(mid), big: sha256(big) };

const pi = await hub.pathsInfo({ repo, paths: ["small.txt", "data/big.bin", "nope"], expand: true, accessToken, hubUrl });
out.pathsInfo = pi.map((p) => ({ path: p.path, lfs: p.lfs?.oid ?? null, lastCommit: p.lastCommit?.title ?? null }));

await hub.deleteFile({ repo, path: "small.txt", accessToken, hubUrl });
out.afterDelete = (await collect(hub.listFiles({ repo, accessToken, hubUrl }))).map((f) => f.path).sort();
out.deleteMissing = await errorOf(hub.deleteFile({ repo, path: "small.txt", accessToken, hubUrl }));

const commits = await collect(hub.listCommits({ repo, accessToken, hubUrl, batchSize: 2 }));
out.commits = commits.map((c) => c.title);

out.anonymous = await errorOf(collect(hub.listFiles({ repo, hubUrl })));
await hub.deleteRepo({ repo, accessToken, hubUrl });
out.afterDeleteRepo = await errorOf(hub.downloadFile({ repo, path: "data/big.bin", accessToken, hubUrl }));

console.log(JSON.stringify(out));
