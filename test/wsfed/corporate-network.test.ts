/** insidecorporatenetwork: the CIDR matcher answers the same on every call, remembered or not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { corporateNetwork } from '../../src/claims/microsoft365.js';

test('addresses inside and outside the internal networks, IPv4-mapped and IPv6, asked twice', () => {
  const inside = corporateNetwork(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
  const cases: Array<[string, boolean]> = [
    ['10.1.2.3', true],
    ['::ffff:10.1.2.3', true],
    ['11.1.2.3', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['fd12::1', true],
    ['fe80::1', false],
    ['not an address', false],
    ['', false],
  ];
  for (let round = 0; round < 2; round++) for (const [ip, expected] of cases) assert.equal(inside(ip), expected, `${ip} (round ${round})`);
});

test('no internal networks: nobody is inside; many distinct clients keep the answers right', () => {
  assert.equal(corporateNetwork([])('10.1.2.3'), false);
  const inside = corporateNetwork(['10.0.0.0/16']);
  for (let i = 0; i < 10_000; i++) assert.equal(inside(`10.${i % 2}.${(i >> 8) & 255}.${i & 255}`), i % 2 === 0);
});
