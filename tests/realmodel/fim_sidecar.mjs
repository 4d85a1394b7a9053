// A tiny stdio sidecar that runs a GGUF model with node-llama-cpp (pinned in tests/realmodel/install.py).
//
// Usage: REALMODEL_NODE_DIR=DIR node fim_sidecar.mjs MODEL.gguf [contextSize] [threads]
// Reads JSON lines on stdin, one request per line:
//   {"id": 1, "segments": [["<|fim_prefix|>", true], ["code...", false], ...],
//    "max_tokens": 64, "stop": ["\n\n"], "stop_special": ["<|endoftext|>", ...]}
//   segments: [text, isSpecial]; special segments are tokenized as control tokens, the others as
//   plain text (so code that happens to contain "<|fim_pad|>" is never read as a control token).
// Writes one JSON line per request:
//   {"id": 1, "text": "...", "finish": "stop"|"length"|"error", "prompt_tokens": int,
//    "reused_tokens": int, "completion_tokens": int, "prompt_ms": float, "gen_ms": float}
// Prints {"ready": true, ...} once the model is loaded. Greedy decoding (temperature 0).
// The KV cache of the longest common token prefix with the previous request is reused.
import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// node-llama-cpp lives outside the repo (REALMODEL_NODE_DIR/node_modules), so import it by path
const nodeDir = process.env.REALMODEL_NODE_DIR;
if (!nodeDir) { console.error("REALMODEL_NODE_DIR is not set"); process.exit(2); }
const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(join(nodeDir, "node_modules", "node-llama-cpp", "dist", "index.js")).href);

const [modelPath, ctxArg, thrArg] = process.argv.slice(2);
const contextSize = Number(ctxArg || 8192);
const threads = Number(thrArg || 2);

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize, threads, batchSize: 512 });
const sequence = context.getSequence();
out({ ready: true, contextSize: context.contextSize, threads });

function tokenizeSegments(segments) {
  const toks = [];
  for (const [text, special] of segments) {
    if (!text) continue;
    for (const t of model.tokenize(text, Boolean(special))) toks.push(t);
  }
  return toks;
}

async function complete(req) {
  const maxTokens = Math.max(1, Number(req.max_tokens || 64));
  const stop = (req.stop || []).filter((s) => typeof s === "string" && s.length > 0);
  const stopIds = new Set();
  for (const s of req.stop_special || []) {
    const ids = model.tokenize(s, true);
    if (ids.length === 1) stopIds.add(ids[0]);
  }
  let input = tokenizeSegments(req.segments || []);
  const room = context.contextSize - maxTokens - 1;
  if (input.length > room) {
    // keep the tail (the FIM middle marker is last); the caller is expected to bound the prompt
    input = input.slice(input.length - room);
  }
  // reuse the KV cache of the common prefix
  const old = sequence.contextTokens;
  let common = 0;
  while (common < old.length && common < input.length && old[common] === input[common]) common++;
  if (common >= input.length) common = input.length - 1;   // at least one token must be evaluated
  if (common < sequence.nextTokenIndex) {
    await sequence.eraseContextTokenRanges([{ start: common, end: sequence.nextTokenIndex }]);
  }
  const t0 = performance.now();
  let tFirst = null;
  const generated = [];
  let text = "";
  let finish = "stop";   // the generator also ends by itself at an end-of-generation token
  for await (const tok of sequence.evaluate(input.slice(common), { temperature: 0 })) {
    if (tFirst === null) tFirst = performance.now();
    if (stopIds.has(tok) || model.isEogToken(tok)) { finish = "stop"; break; }
    generated.push(tok);
    text = model.detokenize(generated, false);
    let cut = -1;
    for (const s of stop) {
      const i = text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) { text = text.slice(0, cut); finish = "stop"; break; }
    if (generated.length >= maxTokens) { finish = "length"; break; }
  }
  const t1 = performance.now();
  return { text, finish, prompt_tokens: input.length, reused_tokens: common,
           completion_tokens: generated.length, prompt_ms: (tFirst ?? t1) - t0, gen_ms: t1 - (tFirst ?? t1) };
}

// one request at a time, in arrival order
let chain = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let req;
    try { req = JSON.parse(line); } catch (e) { out({ id: null, finish: "error", error: "bad json" }); return; }
    try {
      out({ id: req.id, ...(await complete(req)) });
    } catch (e) {
      out({ id: req.id, text: "", finish: "error", error: String(e && e.message || e) });
    }
  });
});
rl.on("close", () => { chain.then(() => process.exit(0)); });
