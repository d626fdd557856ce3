import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The dashboard: plain TypeScript and DOM, bundled into web/dist/ (served at / by src/http.ts).
// Everything is bundled; nothing is loaded from a CDN (the machines may be offline).
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
});
