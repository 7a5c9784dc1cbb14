// Compiled with `tsc --noEmit` against www/tandem-web/src/wasm/tandem_wasm.d.ts (feature `models`).
import init, {
  LocalModel,
  type ChatMessage,
  type GenerateOptions,
  type GenerationResult,
} from "../../www/tandem-web/src/wasm/tandem_wasm.js";

export async function example(bytes: Uint8Array): Promise<string> {
  await init();
  const model = await LocalModel.fromGguf(bytes, "auto");
  const where: string = model.fallbackReason ? `cpu: ${model.fallbackReason}` : model.backend;
  const options: GenerateOptions = { maxTokens: 16, temperature: 0.7, topP: 0.9, seed: 1 };
  const messages: ChatMessage[] = [{ role: "user", content: "Hello" }];
  let streamed = "";
  const result: GenerationResult = await model.chat(messages, options, (text: string) => {
    streamed += text;
  });
  const raw: GenerationResult = await model.generate("Once upon a time", { maxTokens: 4 });
  const rate = ((result.tokens.length - 1) / result.decodeMs) * 1000;
  const ids: Uint32Array = model.encode("hi");
  return [where, streamed, result.stopReason, raw.text, rate.toFixed(1), ids.length].join("\n");
}
