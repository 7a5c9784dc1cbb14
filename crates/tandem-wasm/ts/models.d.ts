// Generated from the Rust types by `TANDEM_BLESS=1 cargo test -p tandem-wasm --features ts --test ts_types`; do not edit.
// Offsets are UTF-16 code units (JavaScript string indices).

/** Where a query is answered. */
export type Route = "local" | "cloud";

/** When PII density keeps a query on the device. */
export type PiiRule = {
/** At least this many entities… */
minEntities: number,
/** …and at least this many per 100 words. */
minPer100Words: number, };

/** The router's settings. */
export type RouterPolicy = {
/**
 * The cost/quality knob: route locally when the probability that the
 * local model suffices is at least this. 0 = always local (cheapest),
 * above 1 = cloud unless a rule says otherwise (best quality).
 */
minLocalProbability?: number,
/** A user setting that overrides the model (`None`: let it decide). */
force?: Route | null,
/** Keep PII-dense text local (`None`: no such rule). */
piiLocal?: PiiRule | null,
/** Keep a conversation local once one of its messages was kept local as PII-dense. */
keepPrivate?: boolean,
/**
 * How far above the threshold `p_local` must be to bring a conversation back from the
 * cloud to the device (0: no stickiness).
 */
switchMargin?: number, };

/** What the router knows about the conversation before this message. */
export type Conversation = {
/** Where the previous answer came from (`None`: a first message, or not known). */
previous?: Route | null,
/** An earlier message was kept on the device as PII-dense. */
private?: boolean, };

/** Facts about the query's context that the router weighs. */
export type RouteContext = {
/** Whether the cloud can be reached (default true). */
cloudAvailable?: boolean,
/** Whether a local model is loaded (default true). */
localAvailable?: boolean,
/** Where the previous answer came from (`None`: a first message, or not known). */
previous?: Route | null,
/** An earlier message was kept on the device as PII-dense. */
private?: boolean, };

/** Why a route was chosen. */
export type RouteReason = { "kind": "noLocalModel" } | { "kind": "offline" } | { "kind": "userSetting",
/** The route the user chose. */
route: Route, } | { "kind": "piiDense",
/** Entities found. */
entities: number,
/** Entities per 100 words. */
per100Words: number, } | { "kind": "privateConversation" } | { "kind": "staysInCloud",
/** Probability that the local model suffices. */
pLocal: number,
/** What it had to reach: the threshold plus the switch margin. */
needed: number, } | { "kind": "localSuffices",
/** Probability that the local model suffices. */
pLocal: number,
/** The threshold in force. */
threshold: number, } | { "kind": "needsCloud",
/** Probability that the local model suffices. */
pLocal: number,
/** The threshold in force. */
threshold: number, };

/** A routing decision. */
export type Decision = {
/** Where the query goes. */
route: Route,
/** The model's probability that the local model suffices. */
pLocal: number,
/** Why. */
reason: RouteReason, };

/** The route `Analyzer.analyze` chose, with a sentence saying why. */
export type AnalysisRoute = {
/** The reason in words, for display. */
explanation: string,
/** Where the query goes. */
route: Route,
/** The model's probability that the local model suffices. */
pLocal: number,
/** Why. */
reason: RouteReason, };

/** What `Analyzer.analyze` resolves to. */
export type Analysis = {
/** Patterns and model entities merged (validators win), offsets in UTF-16 code units. */
entities: Array<Detection>,
/** Only the model's entities. */
modelEntities: Array<Detection>,
/** The router's decision. */
route: AnalysisRoute,
/** Word pieces the encoder read. */
pieces: number,
/** Encoder windows the text took. */
windows: number,
/** Wall time of the encoder pass and the read back, ms. */
ms: number, };

/** Who speaks a message. */
export type Role = "system" | "user" | "assistant";

/** One message of a conversation. */
export type ChatMessage = {
/** The speaker. */
role: Role,
/** The text. */
content: string, };

/** When a local answer is handed to the cloud. */
export type CascadeBar = {
/** How many first tokens are judged (and held back meanwhile). */
tokens: number,
/** Keep the local answer when their mean log-probability is at least this. */
minMeanLogprob: number, };

/** What the cascade decided, and on what. */
export type CascadeVerdict = {
/** Keep the local answer (else: switch to the cloud). */
keepLocal: boolean,
/** The mean log-probability it was decided on. */
meanLogprob: number,
/** Tokens it was decided on. */
tokens: number, };

/**
 * Settings of one generation; every field is optional. `generate` defaults to plain greedy
 * decoding; `chat` to the local-answer defaults (greedy, penalty 1.1 over the last 64 tokens,
 * no 4-gram of the answer twice, one earlier turn and 768 prompt tokens shown). 128 tokens.
 */
export type GenerateOptions = {
/** Most tokens generated. */
maxTokens?: number,
/** 0 = greedy. */
temperature?: number,
/** Sample among the k most likely tokens only. */
topK?: number,
/** Sample among the most likely tokens whose probabilities add up to p. */
topP?: number,
/** Penalty for recently seen tokens; 1 = off. */
repetitionPenalty?: number,
/** How many recent tokens the penalty looks at; 0 = all. */
repetitionWindow?: number,
/** Never repeat an n-gram of the answer of this length; 0 = off. */
noRepeatNgram?: number,
/** `chat` only: most earlier turns shown to the model. */
historyTurns?: number,
/** `chat` only: most prompt tokens; earlier turns are dropped to fit. */
historyTokens?: number,
/** The same seed gives the same tokens. */
seed?: number,
/**
 * The cascade: hold the first `tokens` pieces back, and stop with `stopReason: "cascade"`
 * (nothing shown) when the model's mean log-probability of them is under `minMeanLogprob`.
 */
cascade?: CascadeBar, };

/** Why a generation ended. */
export type GenerationStop = "stop" | "max_tokens" | "cascade";

/** What `generate` and `chat` resolve to. */
export type GenerationResult = {
/** The generated text. */
text: string,
/** The generated token ids. */
tokens: Array<number>,
/** Tokens of the prompt as the model saw it. */
promptTokens: number,
/** Why it ended. */
stopReason: GenerationStop,
/** The cascade's verdict, when a bar was given and reached a decision. */
cascade?: CascadeVerdict,
/** Time to the first generated token (the prompt pass and one sampling step), ms. */
prefillMs: number,
/** Time for the remaining `tokens.length - 1` tokens, ms. */
decodeMs: number, };

/** Settings of `LocalModel.speculate`. */
export type SpeculateOptions = {
/** The target model's name, as the verifier knows it. */
model: string,
/** Unique per generation: the verifier keeps the target's cache under it. */
session: string,
/** Default 128. */
maxTokens?: number,
/**
 * Draft tokens per round, 1 to 16. Omitted: chosen each round from the measured
 * acceptance and costs, down to no drafting when it does not pay; what one answer
 * measured carries over to the next answer against the same target model.
 */
draftTokens?: number,
/** Keep drafting while a round is in flight (default true). */
pipelined?: boolean,
/**
 * Also draft by prompt lookup: runs of the conversation that repeat, proposed without a
 * model step (default true).
 */
promptLookup?: boolean,
/**
 * Sampling temperature (default 0: greedy). Above 0, rounds are exact rejection
 * sampling, and the verifier must return distributions.
 */
temperature?: number,
/** Sample among the k most likely tokens only. */
topK?: number,
/** Sample among the most likely tokens whose probabilities add up to p. */
topP?: number,
/** Seed of the drafter's and the verifier's draws (default 0). */
seed?: number,
/**
 * A round unanswered this long (ms, default 60000) is sent again, once; a second timeout
 * rejects with an error. A late reply to the abandoned attempt is ignored.
 */
roundTimeoutMs?: number, };

/** One verified round, for display: which drafted pieces the target kept. */
export type SpeculationRound = {
/** The drafted pieces that were sent, in order. */
drafted: Array<string>,
/** How many of them the target accepted (a prefix). */
accepted: number,
/** The target's own next token. */
next: string,
/** Text confirmed by this round (may lag the pieces by an incomplete character). */
text: string, };

/** Why a speculative answer ended. */
export type SpeculationStop = "stop" | "max_tokens";

/**
 * What the target was paid for, counted as a provider bills: positions it
 * ran are prompt (input) tokens, and each pass yields one output token (a
 * plain round's continuation one per token it generated).
 * Against [`CloudTokens::plain`], this is what speculation saves or costs
 * in cloud money at the provider's input and output prices.
 */
export type CloudTokens = {
/** Positions the target read (prompt, corrections and drafts). */
input: number,
/** Tokens the target generated: one per pass. */
output: number, };

/**
 * Plain rounds counted by why they went out without a draft (see
 * [`PlainReason`]): a report's answer to "why did it stop drafting?".
 * Rounds that are plain because the answer has one token left are in none.
 */
export type PlainRounds = {
/** The measured costs predicted that no draft length beats plain rounds. */
predicted: number,
/**
 * Drafting was predicted to pay, but drafted rounds had realized more
 * milliseconds per token than plain ones.
 */
realized: number,
/** Plain rounds timed among drafted ones. */
probes: number, };

/** What `speculate` resolves to. */
export type SpeculationResult = {
/** The answer. */
text: string,
/** Its token ids. */
tokens: Array<number>,
/** Rounds sent to the verifier. */
rounds: number,
/** Draft tokens sent over all rounds. */
drafted: number,
/** Draft tokens the target accepted over all rounds. */
accepted: number,
/** Why it ended. */
stopReason: SpeculationStop,
/** Times the verifier had lost the session and the context was resent. */
resent: number,
/** Rounds sent without a draft (plain decoding by the verifier: drafting did not pay). */
plainRounds: number,
/**
 * The plain rounds by why they were plain: predicted by the measured costs, realized by
 * the rounds so far, or probes.
 */
plainWhy: PlainRounds,
/** Rounds drafted by prompt lookup. */
lookupRounds: number,
/** Prompt lookup's draft tokens sent. */
lookupSent: number,
/** Prompt lookup's draft tokens accepted. */
lookupAccepted: number,
/** Drafter steps. */
draftSteps: number,
/** Drafted-ahead tokens that were reused. */
reused: number,
/** Drafted-ahead tokens that were thrown away. */
discarded: number,
/** Target passes per generated token (1 is plain decoding). */
passesPerToken: number,
/** The target's forward time as the verifier reports it (ms). */
targetForwardMs: number,
/** The round trips as timed here (ms). */
roundMs: number,
/** Rounds sent again because their reply did not come within `roundTimeoutMs`. */
timedOut: number,
/** Tokens the target generated by itself after plain rounds (asked for over a long link). */
extended: number,
/** The target's work as billed (positions as input, passes as output). */
cloudTokens: CloudTokens,
/**
 * A plain cloud answer's (the prompt as input, one output token per generated token):
 * priced at a provider's rates, the difference from `cloudTokens` is what speculation
 * saved, or cost.
 */
plainCloudTokens: CloudTokens, };
