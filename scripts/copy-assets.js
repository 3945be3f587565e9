#!/usr/bin/env node
'use strict';
// Node-RED's loader looks for `<type>.html`, `locales/` and `icons/` next to each node's
// compiled `.js`, so after `tsc` we mirror the non-TypeScript files of nodes/ into dist/nodes/.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const from = path.join(root, 'nodes');
const to = path.join(root, 'dist', 'nodes');

function copyDir(src, dst) {
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, entry.name);
    const d = path.join(dst, entry.name);
    if (entry.isDirectory()) {
      copyDir(s, d);
    } else if (!entry.name.endsWith('.ts')) {
      fs.mkdirSync(dst, { recursive: true });
      fs.copyFileSync(s, d);
    }
  }
}

if (fs.existsSync(from)) copyDir(from, to);
