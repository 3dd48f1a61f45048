// Builds the static dashboard into web/dist. Relative base so the pages work from any path
// (the local server at `/`, S3 + CloudFront in AWS).
import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
});
