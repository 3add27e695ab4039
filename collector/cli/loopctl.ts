#!/usr/bin/env node
import { main } from './program.js';

// exitCode, not exit(): stdout piped to another process is flushed before Node exits.
main(process.argv).then((code) => {
  process.exitCode = code;
});
