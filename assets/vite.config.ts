import { defineConfig } from 'vite';

// The build output (dist/) is committed and embedded into the lookout
// binary by rust-embed, so `cargo build` needs no Node. Everything the page
// loads comes from files: the server's Content-Security-Policy forbids
// inline scripts and styles.
export default defineConfig({
  base: '/',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': process.env.LOOKOUT_URL ?? 'http://127.0.0.1:4318',
      '/health': process.env.LOOKOUT_URL ?? 'http://127.0.0.1:4318',
      '/metrics': process.env.LOOKOUT_URL ?? 'http://127.0.0.1:4318',
      '/prometheus': process.env.LOOKOUT_URL ?? 'http://127.0.0.1:4318',
    },
  },
});
