// Compiled with `tsc --noEmit` against the generated www/tandem-web/src/wasm-shield/tandem_wasm.d.ts:
// the published TypeScript API must describe what the bindings return.
import init, { Shield, type Detection, type Redaction, type ShieldOptions, type EntityKind } from "../../www/tandem-web/src/wasm-shield/tandem_wasm.js";

export async function example(): Promise<string> {
  await init();
  const options: ShieldOptions = { minScore: 0.6, policy: { CREDIT_CARD: "mask", URL: "allow" } };
  const shield = new Shield(options);
  const found: Detection[] = shield.analyze("mail jo@example.com");
  const kinds: EntityKind[] = found.map((d) => d.kind);
  const redaction: Redaction = shield.redact("card 4111 1111 1111 1111");
  const first = redaction.entities[0];
  const replaced: string = first ? redaction.text.slice(first.redacted_start, first.redacted_end) : "";
  const restorer = shield.restorer();
  const restored = restorer.push(redaction.text) + restorer.finish();
  const plain = new Shield();
  return [kinds.join(","), replaced, restored, plain.restore("[EMAIL_1]")].join("\n");
}
