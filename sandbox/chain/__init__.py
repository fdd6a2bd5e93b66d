"""The sandbox's chain: a local Polygon stand-in where the fee escrow really runs.

On the real network Parsec's fee escrow is a contract on Polygon (NOTES §8); the back-office
reads its ``feeRecords`` and events over JSON-RPC. The sandbox runs the same thing in its own
process: an EVM (py-evm through eth-tester) with chain id 137, the escrow contract
(contracts/ParsecFeeEscrow.vy) at Parsec's documented address and a 6-decimal mock USDC, and
a standard JSON-RPC endpoint on the sandbox's port (``POST /_chain``, sandbox.chain.rpc).

- ``node``: the chain itself (genesis, blocks, reads, snapshots), persisted block by block in
  the sandbox database (``ChainState``), so it survives a restart as it was.
- ``mempool``: what the sandbox decided and the chain has yet to mine (``ChainOp`` rows, written
  in the decision's own transaction) and what a payer can still afford once those are mined.
- ``producer``: the background thread that mines a block every SANDBOX_CHAIN_BLOCK_SECONDS,
  yielding to requests (placements never wait for the chain).
- ``rpc``: the JSON-RPC endpoint.
"""
