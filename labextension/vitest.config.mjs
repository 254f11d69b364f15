import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.spec.ts'],
    setupFiles: ['test/setup.ts'],
    // Most modules take their clock, fetch and visibility as arguments, so
    // node is enough; DOM-touching specs opt into jsdom per file.
    environment: 'node',
    restoreMocks: true,
    server: {
      deps: {
        // Published as ESM with extensionless imports, which Node cannot load:
        // let Vite transform them (only needed when a spec imports the plugins).
        inline: [/@jupyter\/web-components/, /@microsoft\/fast-/]
      }
    }
  }
});
