// The `orders` service of examples/replay-in-tests. POST /orders prices the items with the `pricing`
// service (an outgoing call), takes off the coupon's discount and answers the total.
//
// The bug: an order without a coupon makes `order.coupon.code` throw a TypeError, and the client gets
// a 500. The fix is in discount() below, switched on by FIXED=1 so the example can show the test
// failing, then passing, without editing a file.
//
// CommonJS so that all three runners load it as it is: node:test and vitest import it, jest requires
// it (jest runs ES modules only with --experimental-vm-modules).
'use strict';
const http = require('node:http');
const express = require('express');
const { loop } = require('httploop');

/** Where `pricing` answers; the replayed outgoing call must go to the same address as the recorded one. */
const PRICING_URL = process.env.PRICING_URL ?? 'http://127.0.0.1:4100';
const FIXED = process.env.FIXED === '1';

function discount(order, subtotal) {
  if (FIXED) {
    // The fix: no coupon, no discount.
    return order.coupon?.code === 'WELCOME10' ? Math.round(subtotal / 10) : 0;
  }
  return order.coupon.code === 'WELCOME10' ? Math.round(subtotal / 10) : 0;
}

/**
 * GET of a JSON answer with node:http. (loop() records the response bodies of node:http calls; of
 * global fetch it records status and headers only, so a stubbed fetch would get an empty body.)
 */
function getJson(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`${url} answered ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Builds the app without listening. loop() comes first; LOOP_COLLECTOR says where captures go. */
function createApp({ pricingUrl = PRICING_URL, log = console.error } = {}) {
  const mw = loop({ service: 'orders' });
  const app = express();
  app.use(mw);
  app.use(express.json());

  app.post('/orders', async (req, res) => {
    const order = req.body;
    const skus = order.items.map((item) => item.sku).join(',');
    const prices = await getJson(`${pricingUrl}/prices?skus=${encodeURIComponent(skus)}`); // cents by SKU
    const subtotal = order.items.reduce((sum, item) => sum + prices[item.sku] * item.quantity, 0);
    const off = discount(order, subtotal);
    res.status(201).json({ subtotal, discount: off, total: subtotal - off });
  });

  // Clients get a fixed message, never the stack; loop() has recorded the error.
  app.use((err, req, res, next) => {
    log(`orders: ${req.method} ${req.originalUrl} failed: ${err.message}`);
    res.status(500).json({ error: 'could not place the order' });
  });

  return { app, loop: mw };
}

const { app, loop: appLoop } = createApp();

module.exports = { app, loop: appLoop };
