// Compiled with `tsc --noEmit` against the package's built declarations and the real `openai`
// and `ai` types: the adapters must plug in where those SDKs expect a fetch and a middleware.
import OpenAI from "openai";
import { wrapLanguageModel, type LanguageModel } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { shieldFetch, shieldMiddleware, loadShield, type ShieldLike } from "../../www/tandem-web/dist/shield/index.js";

export async function adapters(): Promise<[OpenAI, LanguageModel]> {
  const shield: ShieldLike = await loadShield({ options: { policy: { URL: "allow" } } });
  const openai = new OpenAI({ apiKey: "sk", fetch: shieldFetch(fetch, { shield }) });
  const provider = createOpenAICompatible({ name: "local", baseURL: "http://127.0.0.1:8000/v1" });
  const model = wrapLanguageModel({ model: provider.chatModel("m"), middleware: shieldMiddleware({ shield }) });
  return [openai, model];
}
