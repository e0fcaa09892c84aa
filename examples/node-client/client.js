#!/usr/bin/env node
// A partner firm's client of mpcnode, written from the .proto files in proto/ alone
// (@grpc/grpc-js and @grpc/proto-loader, no generated code):
//
//   node client.js submit --node HOST:PORT --party alice --cert alice-hr.crt --key alice-hr.key \
//       --ca ca.crt --dataset raises --upper 10000 --value 3800
//   node client.js sum --coordinator HOST:PORT --cert analyst.crt --key analyst.key --ca ca.crt \
//       --dataset raises --upper 10000
//
// `submit` declares a scalar dataset in [0, upper] on the organization's own node and hands it
// the value (Local.SubmitInput, a client stream whose first chunk carries the declaration).
// `sum` asks the coordinator for the sum over every party (CreateComputation), follows it
// (WatchComputation, a server stream that ends with the computation), and reads the result
// (GetResult), printing one JSON object. Rules this follows, stated in the protos and README:
// every channel is mutual TLS 1.3 with the federation's certificates; the TLS name of a server
// is <name>.<role>.mpc (alice.party.mpc, coordinator.coordinator.mpc), whatever address it is
// reached at; tensors are little-endian bytes; a refusal's reason is an ErrorInfo (domain
// mpc.v1) in the trailing metadata grpc-status-details-bin.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const definition = loader.loadSync(
  ['mpcnode/api/v1/node.proto', 'mpcnode/api/v1/coordinator.proto'],
  {includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: true},
);
const mpc = grpc.loadPackageDefinition(definition).mpc.v1;

function options(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

function credentials(o) {
  return grpc.credentials.createSsl(
    fs.readFileSync(o.ca), fs.readFileSync(o.key), fs.readFileSync(o.cert),
  );
}

function channelOptions(serverName) {
  // The server's certificate names it <name>.<role>.mpc, not by its address.
  return {'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName};
}

function reasonOf(err) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  return raw ? `(details: ${raw.length} bytes of google.rpc.Status)` : '';
}

function int64Tensor(values) {
  const data = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => data.writeBigInt64LE(BigInt(v), 8 * i));
  return {dtype: 'DTYPE_INT64', length: String(values.length), data};
}

function submit(o) {
  const node = new mpc.Local(o.node, credentials(o), channelOptions(`${o.party}.party.mpc`));
  const declaration = {
    dataset: o.dataset, shape: 'SHAPE_SCALAR', length: '1', lower: 0, upper: Number(o.upper),
    encoding: {fractional_bits: 0},
  };
  return new Promise((resolve, reject) => {
    const call = node.SubmitInput((err, info) => {
      node.close();
      if (err) reject(new Error(`${err.code} ${err.details} ${reasonOf(err)}`));
      else resolve({dataset: info.dataset, input_id: info.input_id});
    });
    call.write({
      dataset: o.dataset, total_length: '1', declaration,
      chunk: {offset: '0', part: int64Tensor([o.value])},
    });
    call.end();
  });
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => client[method](request, (err, reply) => (
    err ? reject(new Error(`${method}: ${err.code} ${err.details} ${reasonOf(err)}`))
      : resolve(reply))));
}

function streamed(client, method, request) {
  return new Promise((resolve, reject) => {
    const items = [];
    const call = client[method](request);
    call.on('data', (item) => items.push(item));
    call.on('error', (err) => reject(new Error(`${method}: ${err.code} ${err.details}`)));
    call.on('end', () => resolve(items));
  });
}

async function sum(o) {
  const coordinator = new mpc.Coordinator(
    o.coordinator, credentials(o), channelOptions('coordinator.coordinator.mpc'),
  );
  try {
    const spec = {
      name: `sum of ${o.dataset} (node.js)`, kind: 'KIND_SUM', dataset: o.dataset,
      encoding: {fractional_bits: 0}, lower: 0, upper: Number(o.upper), length: '1',
      min_parties: 3,
    };
    const ref = await unary(coordinator, 'CreateComputation', {spec});
    const events = await streamed(coordinator, 'WatchComputation', ref);
    const last = events[events.length - 1];
    if (last.state !== 'COMPUTATION_STATE_PUBLISHED') {
      throw new Error(`computation ${ref.computation_id} ${last.state}: ${last.message}`);
    }
    const chunks = await streamed(coordinator, 'GetResult', ref);
    const header = chunks[0].header;
    const outputs = {};
    for (const piece of chunks.slice(1)) {
      const {output_index: index, chunk} = piece.output;
      const data = chunk.part.data;
      const values = [];
      for (let i = 0; i < data.length; i += 8) values.push(Number(data.readBigInt64LE(i)));
      outputs[header.outputs[index]] = values;
    }
    return {computation_id: ref.computation_id, participants: header.participants, outputs};
  } finally {
    coordinator.close();
  }
}

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const o = options(rest);
  const run = {submit, sum}[command];
  if (!run) throw new Error('usage: client.js submit|sum --option value ...');
  console.log(JSON.stringify(await run(o)));
}

main().catch((err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
