// `express4` is Express 4 installed under an alias (package.json) so the suite runs against 4 and 5.
// The tests use only what both versions share, so Express's own types describe it.
declare module 'express4' {
  import express = require('express');
  export = express;
}
