// What a plain round costs a completions target beyond its tokens: the same 48 greedy tokens of a
// cached code prompt from `tandem serve --target qwen2.5-coder-1.5b`, asked as one request
// (max_tokens 48) and as rounds of 1 + EXTEND tokens that resend the whole sequence with
// prompt_logprobs, as workerd's /v1/verify does for plain rounds. Three alternations; prints the
// extra milliseconds per round.
// Usage: TOKEN=… node tests/bench/completion-rounds.mjs TARGET_URL [EXTEND=8]
// (start the target first: TOKEN=… tandem serve --target qwen2.5-coder-1.5b --config GATEWAY.json,
// with a client whose token_secret is TOKEN)
const [url, extendArg = "8"] = process.argv.slice(2);
const EXTEND = Number(extendArg);
const P = [151644,8948,198,2610,525,1207,16948,11,3465,553,54364,14817,13,1446,525,264,10950,17847,13,151645,198,151644,872,198,7985,264,13027,729,429,12341,3425,264,914,374,264,73097,11,30903,151645,198,151644,77091,198];
async function ask(prompt, maxTokens, logprobs) {
  const r = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${process.env.TOKEN ?? ""}` },
    body: JSON.stringify({ model: "qwen2.5-coder-1.5b", prompt, max_tokens: maxTokens, temperature: 0, ...(logprobs ? { prompt_logprobs: 1, logprobs: 1, return_tokens_as_token_ids: true } : {}) }) });
  if (!r.ok) throw new Error(`completions: HTTP ${r.status}: ${await r.text()}`);
  return r.json();
}
const ids = (j) => j.choices[0].logprobs.tokens.map((t) => Number(t.replace("token_id:", "")));
await ask(P, 48, true); // cache the prompt and the answer's path
for (let round = 0; round < 3; round++) {
  let t = performance.now();
  await ask(P, 48, false);
  const one = performance.now() - t;
  t = performance.now();
  let seq = [...P], n = 0, rounds = 0, bytes = 0;
  while (n < 48) {
    const j = await ask(seq, Math.min(1 + EXTEND, 48 - n), true);
    bytes += JSON.stringify(j).length;
    const got = ids(j);
    seq.push(...got); n += got.length; rounds++;
  }
  const many = performance.now() - t;
  console.log(JSON.stringify({ oneRequestMs: Math.round(one), rounds, roundsMs: Math.round(many), perRoundExtraMs: +((many - one) / rounds).toFixed(1), replyKb: Math.round(bytes / rounds / 1024) }));
}
