import { defineConfig } from "vite";

// The package ships an ES-module worker and a .wasm file next to its JavaScript; Vite
// bundles both from their `new URL(..., import.meta.url)` references.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", chunkSizeWarningLimit: 4096 },
  worker: { format: "es" },
  optimizeDeps: { exclude: ["@tandem/web"] },
});
