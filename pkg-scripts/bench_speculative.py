"""Speculative decoding benchmark: Qwen2.5-Coder-0.5B drafting for Qwen2.5-Coder-1.5B.

Part 1 (in process): per drafter (the model alone, prompt lookup alone at k = 4 with the model
drafting only when lookup has nothing, both) at k = 4 and with adaptive lengths: acceptance
per drafter, target passes per generated token, and end-to-end tokens/s against the target
alone (`tandem generate`), on chat prompts (MT-Bench first turns,
../shared/data/prompts/mt_bench_questions.jsonl) and code prompts (writing, and editing code
given in the prompt, where lookup pays).

Part 2 (across a link): the client (`tandem speculate --verifier`) and the target
(`tandem serve --target`) in two network namespaces joined by a veth pair, with round-trip
times of 0, 20, 50 and 100 ms added by `tc netem` (or, where the kernel has no sch_netem, by a
delaying TCP relay inside the client's namespace; the script says which), with and without
pipelining, against the target alone over the same link (`/v1/completions`, greedy).

Usage: python3 pkg-scripts/bench_speculative.py TANDEM_BIN [PROMPTS_PER_KIND=3] [MAX_TOKENS=64]
Run as root (namespaces). Prints tables and writes $TANDEM_CACHE/bench/speculative.json.
"""

import asyncio, json, os, re, statistics, subprocess, sys, tempfile, threading, time, urllib.request

TANDEM = sys.argv[1]
PER_KIND = int(sys.argv[2]) if len(sys.argv) > 2 else 3
MAX_TOKENS = int(sys.argv[3]) if len(sys.argv) > 3 else 64
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TANDEM_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
DRAFT, TARGET = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
# Code writing and code editing prompts, shared with the browser's bench (tests/bench/speculative-browser.mjs).
with open(os.path.join(ROOT, "pkg-scripts/speculative_prompts.json")) as f:
    CODE_PROMPTS = json.load(f)


def chat_prompts(n):
    out = []
    with open(os.path.join(SHARED, "data/prompts/mt_bench_questions.jsonl")) as f:
        for line in f:
            q = json.loads(line)
            if q["category"] not in ("coding", "math"):
                out.append(q["turns"][0])
    return out[:n]


PROMPTS = ([("chat", p) for p in chat_prompts(PER_KIND)] + [("code", p) for p in CODE_PROMPTS["code"][:PER_KIND]]
           + [("edit", p) for p in CODE_PROMPTS["edit"][:PER_KIND]])
# KINDS=edit (say, comma-separated) keeps those kinds of prompts (parts 1, 2 and c).
KINDS = tuple(k.strip() for k in os.environ.get("KINDS", "chat,code,edit").split(",") if k.strip())
if not KINDS or set(KINDS) - {"chat", "code", "edit"}:
    sys.exit(f"KINDS={os.environ.get('KINDS')}: give some of chat, code, edit, comma-separated")
PROMPTS = [(kind, p) for kind, p in PROMPTS if kind in KINDS]


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def baseline(prompt, ns=None):
    """Target alone: end-to-end tokens/s of `tandem generate` (prefill + decode)."""
    err = sh(([*ns] if ns else []) + [TANDEM, "generate", "--model", TARGET, "--plain", "--max-tokens", str(MAX_TOKENS), prompt]).stderr
    m = re.search(r"prefill: (\d+) tokens in ([\d.]+) s .*decode: (\d+) tokens in ([\d.]+) s", err)
    tokens, seconds = int(m.group(3)) + 1, float(m.group(2)) + float(m.group(4))
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}


# SHORTLIST=32768 (say): every client's drafter scores only that many of the most frequent
# tokens and the prompt's own (`tandem speculate --shortlist`); default: its whole vocabulary.
SHORTLIST = os.environ.get("SHORTLIST", "0")
if not SHORTLIST.isdigit():
    sys.exit(f"SHORTLIST={SHORTLIST}: give a number of tokens (0: the whole vocabulary)")


def speculate(prompt, args, ns=None):
    out = sh(([*ns] if ns else []) + [TANDEM, "speculate", "--draft", DRAFT, "--target-name", TARGET,
              "--max-tokens", str(MAX_TOKENS), "--json", "--shortlist", SHORTLIST, *args, prompt]).stdout
    return json.loads(out.strip().splitlines()[-1])


def summarize(runs):
    sent = sum(r["sent"] for r in runs)
    lookup_sent = sum(r.get("lookup_sent", 0) for r in runs)
    generated = sum(r["tokens"] if isinstance(r["tokens"], int) else len(r["tokens"]) for r in runs)
    return {
        "acceptance": sum(r["accepted"] for r in runs) / max(sent, 1),
        "model_acceptance": (sum(r["accepted"] - r.get("lookup_accepted", 0) for r in runs)) / max(sent - lookup_sent, 1),
        "lookup_acceptance": sum(r.get("lookup_accepted", 0) for r in runs) / max(lookup_sent, 1) if lookup_sent else None,
        "lookup_rounds": sum(r.get("lookup_rounds", 0) for r in runs),
        "plain_rounds": sum(r.get("plain_rounds", 0) for r in runs),
        # Tokens the target continued by itself after plain rounds, and rounds resent after a timeout.
        "extended": sum(r.get("extended", 0) for r in runs),
        "timed_out": sum(r.get("timed_out", 0) for r in runs),
        # The target's work as billed (input positions, output passes) against plain cloud answers.
        "cloud_tokens": [sum(r["cloud_tokens"][k] for r in runs) for k in ("input", "output")] if runs and "cloud_tokens" in runs[0] else None,
        "plain_cloud_tokens": [sum(r["plain_cloud_tokens"][k] for r in runs) for k in ("input", "output")] if runs and "plain_cloud_tokens" in runs[0] else None,
        "passes_per_token": sum(r["rounds"] for r in runs) / max(generated, 1),
        # With SHORTLIST: share of answer tokens the drafter could not have proposed.
        "off_shortlist": sum(r.get("off_shortlist") or 0 for r in runs) / max(generated, 1),
        "tokens_per_second": sum(r["tokens"] if isinstance(r["tokens"], int) else len(r["tokens"]) for r in runs)
        / sum(r["seconds"] for r in runs),
        "tokens_per_round": statistics.mean(len(r["tokens"]) / max(r["rounds"], 1) for r in runs),
        # What a round cost the target (reported by remote verifiers only).
        "target_ms_per_round": sum(r.get("target_forward_ms", 0) for r in runs) / max(sum(r["rounds"] for r in runs), 1),
        "target_tokens_per_round": sum(r["target_forward_tokens"] for r in runs) / max(sum(r["rounds"] for r in runs), 1),
    }


DRAFTERS = [
    ("k=4, model", ["-k", "4", "--no-lookup"]),
    ("k=4, model + lookup", ["-k", "4"]),
    ("adaptive, model", ["-k", "0", "--no-lookup"]),
    ("adaptive, model + lookup", ["-k", "0"]),
    # Every answer starts from the costs the previous one measured (after one unmeasured
    # warm-up answer), as a long-lived client does.
    ("adaptive, model + lookup, warm", ["-k", "0", "--learned-costs", "WARM"]),
]


def warm(args, run_one):
    """`args` with a fresh learned-costs file in place of WARM, after one warm-up answer."""
    if "WARM" not in args:
        return args
    path = os.path.join(tempfile.mkdtemp(), "costs.json")
    args = [path if a == "WARM" else a for a in args]
    run_one(args)
    return args
# ONLY=adaptive (say) keeps the drafting rows whose label contains it.
DRAFTERS = [d for d in DRAFTERS if os.environ.get("ONLY", "") in d[0]]


def part1():
    print(f"== in process: {len(PROMPTS)} prompts, {MAX_TOKENS} tokens each", flush=True)
    results = {}
    base = {kind: [baseline(p) for k, p in PROMPTS if k == kind] for kind in KINDS}
    for kind in KINDS:
        b = base[kind]
        if b:
            results[(kind, "target alone")] = {"tokens_per_second": sum(x["tokens"] for x in b) / sum(x["seconds"] for x in b)}
    for label, args in DRAFTERS:
        for kind in KINDS:
            prompts = [p for kk, p in PROMPTS if kk == kind]
            if not prompts:
                continue
            kind_args = warm(args, lambda a: speculate(prompts[0], ["--target", TARGET, *a]))
            runs = [speculate(p, ["--target", TARGET, *kind_args]) for p in prompts]
            if runs:
                results[(kind, label)] = summarize(runs)
                print(kind, label, results[(kind, label)], flush=True)
    print("\n| prompts | drafting | acceptance (model / lookup) | lookup rounds | plain rounds | target passes per token | tokens/s | × target alone |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    fmt = lambda v: "–" if v is None else f"{v:.2f}"
    for (kind, label), r in results.items():
        ratio = r["tokens_per_second"] / results[(kind, "target alone")]["tokens_per_second"]
        if label == "target alone":
            print(f"| {kind} | {label} | | | | 1.00 | {r['tokens_per_second']:.2f} | 1.00× |")
            continue
        print(f"| {kind} | {label} | {fmt(r['model_acceptance'])} / {fmt(r['lookup_acceptance'])} | {r['lookup_rounds']} | "
              f"{r['plain_rounds']} | {r['passes_per_token']:.2f} | {r['tokens_per_second']:.2f} | {ratio:.2f}× |")
    return {f"{k[0]} {k[1]}": v for k, v in results.items()}


def part_cold(rounds):
    """Cold against warm adaptive clients in process, alternating with the target alone prompt by
    prompt (`rounds` times over the prompts), so that each kind's three figures come from the
    same minutes: what a fresh client pays for learning whether drafting pays."""
    print(f"== cold and warm clients, alternating: {len(PROMPTS)} prompts x {rounds}, {MAX_TOKENS} tokens each", flush=True)
    learned = {}
    for kind in KINDS:
        first = [p for k, p in PROMPTS if k == kind][0]
        learned[kind] = os.path.join(tempfile.mkdtemp(), "costs.json")
        speculate(first, ["--target", TARGET, "-k", "0", "--learned-costs", learned[kind]])
    acc = {}

    def add(kind, client, tokens, seconds, out=None):
        a = acc.setdefault((kind, client), {"tokens": 0, "seconds": 0.0, "answers": 0, "draft_steps": 0, "rounds": 0, "plain_rounds": 0})
        a["tokens"] += tokens
        a["seconds"] += seconds
        a["answers"] += 1
        for key in ("draft_steps", "rounds", "plain_rounds"):
            a[key] += out[key] if out else 0

    for _ in range(rounds):
        for kind, p in PROMPTS:
            x = baseline(p)
            add(kind, "target alone", x["tokens"], x["seconds"])
            for client, extra in (("cold", []), ("warm", ["--learned-costs", learned[kind]])):
                out = speculate(p, ["--target", TARGET, "-k", "0", *extra])
                add(kind, client, len(out["tokens"]), out["seconds"], out)
    print("\n| prompts | client | tokens/s | x target alone | draft steps per answer | plain rounds / rounds |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for kind in KINDS:
        alone = acc[(kind, "target alone")]
        for client in ("target alone", "cold", "warm"):
            a = acc[(kind, client)]
            tps = a["tokens"] / a["seconds"]
            rest = "| |" if client == "target alone" else f"| {a['draft_steps'] / a['answers']:.1f} | {a['plain_rounds']}/{a['rounds']} |"
            print(f"| {kind} | {client} | {tps:.2f} | {tps / (alone['tokens'] / alone['seconds']):.2f}x {rest}")
    return {f"{k[0]} {k[1]}": v for k, v in acc.items()}


# ---- part 2: two namespaces and a link with delay ----

A, B, IP_A, IP_B, PORT = "tandem-a", "tandem-b", "10.77.0.1", "10.77.0.2", 18787
# A server off loopback must authenticate its clients: one bench client, no practical rate limit.
TOKEN = "bench-token"
GATEWAY = {"upstreams": [{"name": "unused", "base_url": "http://127.0.0.1:9/v1", "models": {"unused": "unused"}}], "clients": [{"name": "bench", "token_secret": "BENCH_TOKEN"}],
           "limits": {"requests_per_minute": 600000, "burst": 10000}}


def netns_up():
    subprocess.run(["ip", "netns", "del", A], capture_output=True)
    subprocess.run(["ip", "netns", "del", B], capture_output=True)
    for cmd in (f"ip netns add {A}", f"ip netns add {B}",
                f"ip link add va netns {A} type veth peer name vb netns {B}",
                f"ip -n {A} addr add {IP_A}/24 dev va", f"ip -n {B} addr add {IP_B}/24 dev vb",
                f"ip -n {A} link set va up", f"ip -n {B} link set vb up",
                f"ip -n {A} link set lo up", f"ip -n {B} link set lo up"):
        sh(cmd.split())
    probe = subprocess.run(["ip", "netns", "exec", A, "tc", "qdisc", "add", "dev", "va", "root", "netem", "delay", "0ms"],
                           capture_output=True, text=True)
    return probe.returncode == 0


def set_netem(rtt_ms):
    for ns, dev in ((A, "va"), (B, "vb")):
        sh(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "netem", "delay", f"{rtt_ms / 2}ms"])


RELAY = r'''
import asyncio, sys
listen_port, host, port, one_way = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000
async def pump(reader, writer):
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    async def deliver():
        while (item := await queue.get()) is not None:
            when, data = item
            await asyncio.sleep(max(0, when - loop.time()))
            writer.write(data); await writer.drain()
        writer.close()
    task = asyncio.create_task(deliver())
    while data := await reader.read(65536):
        queue.put_nowait((loop.time() + one_way, data))
    queue.put_nowait(None); await task
async def handle(cr, cw):
    ur, uw = await asyncio.open_connection(host, port)
    await asyncio.gather(pump(cr, uw), pump(ur, cw), return_exceptions=True)
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", flush=True); await server.serve_forever()
asyncio.run(main())
'''


def wait_health(url, ns, server):
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"the target server exited: {server.stderr.read()}")
        if subprocess.run(["ip", "netns", "exec", ns, "curl", "-sf", url], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def remote_baseline(url, prompt_ids):
    body = json.dumps({"model": TARGET, "prompt": prompt_ids, "max_tokens": MAX_TOKENS, "temperature": 0}).encode()
    t0 = time.time()
    out = sh(["ip", "netns", "exec", A, "curl", "-sf", "-H", "content-type: application/json",
              "-H", f"authorization: Bearer {TOKEN}", "--data-binary", "@-",
              f"{url}/v1/completions"], input=body.decode())
    seconds = time.time() - t0
    n = json.loads(out.stdout)["usage"]["completion_tokens"]
    return {"tokens": n, "seconds": seconds}


def part2():
    netem = netns_up()
    how = "tc netem on the veth pair" if netem else "a delaying TCP relay in the client namespace (this kernel has no sch_netem)"
    print(f"\n== across a link: {how}", flush=True)
    config = os.path.join(tempfile.mkdtemp(), "gateway.json")
    with open(config, "w") as f:
        json.dump(GATEWAY, f)
    def start_server():
        proc = subprocess.Popen(["ip", "netns", "exec", B, TANDEM, "serve", "--target", TARGET, "--config", config,
                                 "--listen", f"{IP_B}:{PORT}"], env={**os.environ, "BENCH_TOKEN": TOKEN},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_health(f"http://{IP_B}:{PORT}/health", A, proc)
        return proc
    server = None
    results = {}
    try:
        prompts = [p for _, p in PROMPTS]
        # RTTS=100 (say, comma-separated) keeps those round-trip times.
        for rtt in [int(r) for r in os.environ.get("RTTS", "0,20,50,100").split(",") if r.strip()]:
            # A fresh target per RTT: the target-alone baseline must not find its prompts in the
            # completions prefix cache that the previous RTT's baseline filled.
            if server:
                server.kill()
                server.wait()
            server = start_server()
            relay = None
            if netem:
                set_netem(rtt)
                url = f"http://{IP_B}:{PORT}"
            else:
                relay = subprocess.Popen(["ip", "netns", "exec", A, "python3", "-c", RELAY, "18788", IP_B, str(PORT), str(rtt / 2)],
                                         stdout=subprocess.PIPE, text=True)
                relay.stdout.readline()
                url = "http://127.0.0.1:18788"
            try:
                row = {}
                prompt_ids = None
                rows = (("pipelined", []), ("not pipelined", ["--no-pipeline"]), ("pipelined, warm", ["--learned-costs", "WARM"]))
                for label, extra in [r for r in rows if os.environ.get("ONLY", "") in r[0]]:
                    remote = lambda p, a: speculate(p, ["--verifier", url, "--token", TOKEN, *a], ns=["ip", "netns", "exec", A])
                    extra = warm(extra, lambda a: remote(prompts[0], a))
                    runs = [remote(p, extra) for p in prompts]
                    prompt_ids = [r["prompt_ids"] for r in runs]
                    row[label] = summarize(runs)
                # The target alone over the same link, on the same chat-formatted prompt ids: first
                # with its prompts run cold (as the first row's were), then again with them in the
                # completions prefix cache (as later rows found theirs, in sessions of the same
                # client that earlier rows had left).
                rate = lambda runs: sum(b["tokens"] for b in runs) / sum(b["seconds"] for b in runs)
                row["target alone"] = rate([remote_baseline(url, ids) for ids in prompt_ids])
                row["target alone, cached"] = rate([remote_baseline(url, ids) for ids in prompt_ids])
                results[rtt] = row
                print(rtt, row, flush=True)
            finally:
                if relay:
                    relay.kill()
    finally:
        if server:
            server.kill()
        subprocess.run(["ip", "netns", "del", A], capture_output=True)
        subprocess.run(["ip", "netns", "del", B], capture_output=True)
    # The first row ran its prompts cold and is compared with the cold baseline; the rows after it
    # found their prompts cached and are compared with the cached one.
    print(f"\n({how})\n| RTT | target alone tok/s: cold / cached | speculative, pipelined | × cold | not pipelined | × cached | "
          f"pipelined, warm | × cached | acceptance | plain rounds (continued tokens), warm |\n"
          f"| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rtt, row in results.items():
        b, c = row["target alone"], row["target alone, cached"]
        none = {"tokens_per_second": float("nan"), "acceptance": float("nan"), "plain_rounds": "–", "extended": "–"}
        p, n, w = (row.get(k, none) for k in ("pipelined", "not pipelined", "pipelined, warm"))
        print(f"| {rtt} ms | {b:.2f} / {c:.2f} | {p['tokens_per_second']:.2f} | {p['tokens_per_second'] / b:.2f}× | "
              f"{n['tokens_per_second']:.2f} | {n['tokens_per_second'] / c:.2f}× | "
              f"{w['tokens_per_second']:.2f} | {w['tokens_per_second'] / c:.2f}× | {p['acceptance']:.2f} | "
              f"{w['plain_rounds']} ({w['extended']}) |")
    return {"link": how, "rtt": results}


if __name__ == "__main__":
    which = os.environ.get("PARTS", "12")
    report = {"prompts": PROMPTS, "max_tokens": MAX_TOKENS}
    if "1" in which:
        report["in_process"] = part1()
    if "2" in which:
        report["remote"] = part2()
    if "c" in which:
        report["cold"] = part_cold(int(os.environ.get("ROUNDS", "4")))
    out = os.path.join(os.environ.get("TANDEM_CACHE", os.path.expanduser("~/.cache/tandem")), "bench", "speculative.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(f"\nwrote {out}")
