# pragma version 0.4.3
"""
@title Parsec fee escrow (the sandbox's stand-in)
@notice Holds a builder's fee per order between the order's submission and its outcome
        (parsec/spec/NOTES.md §8). The end-user's wallet signs an EIP-712 PullFee under the
        domain ParsecFeeEscrow v1 (this chain's id, this contract's address); Parsec's operator
        pulls the fee with that signature (the payer has approved this contract for the token),
        then settles it once the order ends: the filled share is split between the builder's
        affiliate and Parsec's treasury by the builder's split, the rest goes back to the payer.
        Parsec publishes no ABI: this one is ours, and the back-office reads it only through an
        ABI file and one mapping function (parsec/escrow_chain.py).
"""

from ethereum.ercs import IERC20

# feeRecords(orderId).status
UNUSED: constant(uint8) = 0
PULLED: constant(uint8) = 1
DISTRIBUTED: constant(uint8) = 2
PARTIALLY_DISTRIBUTED: constant(uint8) = 3
REFUNDED: constant(uint8) = 4

# FeeRefunded.reason (and feeRecords(orderId).refundReason)
REASON_CANCELLED: constant(uint8) = 1
REASON_EXPIRED: constant(uint8) = 2
REASON_REJECTED: constant(uint8) = 3  # failed submission
REASON_STUCK_PENDING: constant(uint8) = 4
REASON_STALE: constant(uint8) = 5
MAX_REASON: constant(uint8) = 5

BPS: constant(uint256) = 10000
# secp256k1n / 2: a higher s is the malleable twin of a valid signature (EIP-2).
HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
PULL_FEE_TYPEHASH: constant(bytes32) = keccak256(
    "PullFee(bytes32 orderId,address payer,uint256 feeAmount,uint256 deadline)"
)
NAME_HASH: constant(bytes32) = keccak256("ParsecFeeEscrow")
VERSION_HASH: constant(bytes32) = keccak256("1")


struct Split:
    affiliate: address  # empty: the whole distributed share goes to the treasury
    treasury: address
    affiliateBps: uint256


struct FeeRecord:
    payer: address
    builderId: uint256
    feeAmount: uint256
    deadline: uint256
    status: uint8
    affiliate: address
    treasury: address
    affiliateBps: uint256
    filled: uint256  # filled / size: the order's fill ratio at settlement
    size: uint256
    affiliateAmount: uint256
    treasuryAmount: uint256
    refundAmount: uint256
    refundReason: uint8
    pulledAt: uint256
    settledAt: uint256


event FeePulled:
    orderId: indexed(bytes32)
    payer: indexed(address)
    builderId: indexed(uint256)
    amount: uint256

event FeeDistributed:
    orderId: indexed(bytes32)
    affiliate: indexed(address)
    treasury: indexed(address)
    affiliateAmount: uint256
    treasuryAmount: uint256

event FeeRefunded:
    orderId: indexed(bytes32)
    payer: indexed(address)
    amount: uint256
    reason: uint8

event SplitSet:
    builderId: indexed(uint256)
    affiliate: address
    treasury: address
    affiliateBps: uint256

event OperatorSet:
    operator: indexed(address)


owner: public(address)
operator: public(address)
token: public(IERC20)
splits: public(HashMap[uint256, Split])
feeRecords: public(HashMap[bytes32, FeeRecord])


@deploy
def __init__(_token: IERC20, _operator: address):
    self.owner = msg.sender
    self.token = _token
    self.operator = _operator
    log OperatorSet(operator=_operator)


@external
def setOperator(_operator: address):
    assert msg.sender == self.owner, "escrow: only the owner"
    self.operator = _operator
    log OperatorSet(operator=_operator)


@external
def setSplit(_builderId: uint256, _affiliate: address, _treasury: address, _affiliateBps: uint256):
    """@notice A builder's split: affiliate share in basis points, the treasury gets the rest."""
    assert msg.sender == self.owner, "escrow: only the owner"
    assert _treasury != empty(address), "escrow: no treasury"
    assert _affiliateBps <= BPS, "escrow: share above 10000 bps"
    self.splits[_builderId] = Split(affiliate=_affiliate, treasury=_treasury, affiliateBps=_affiliateBps)
    log SplitSet(builderId=_builderId, affiliate=_affiliate, treasury=_treasury, affiliateBps=_affiliateBps)


@view
@internal
def _domain_separator() -> bytes32:
    return keccak256(abi_encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, chain.id, self))


@view
@external
def DOMAIN_SEPARATOR() -> bytes32:
    return self._domain_separator()


@view
@internal
def _digest(_orderId: bytes32, _payer: address, _feeAmount: uint256, _deadline: uint256) -> bytes32:
    struct_hash: bytes32 = keccak256(abi_encode(PULL_FEE_TYPEHASH, _orderId, _payer, _feeAmount, _deadline))
    return keccak256(concat(b"\x19\x01", self._domain_separator(), struct_hash))


@view
@external
def pullFeeDigest(_orderId: bytes32, _payer: address, _feeAmount: uint256, _deadline: uint256) -> bytes32:
    """@notice The EIP-712 digest a payer signs for this PullFee."""
    return self._digest(_orderId, _payer, _feeAmount, _deadline)


@view
@internal
def _signer(_digest: bytes32, _signature: Bytes[65]) -> address:
    r: uint256 = extract32(_signature, 0, output_type=uint256)
    s: uint256 = extract32(_signature, 32, output_type=uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    if v < 27:
        v += 27
    assert v == 27 or v == 28, "escrow: bad signature v"
    assert s <= HALF_N, "escrow: malleable signature"
    return ecrecover(_digest, v, r, s)


@external
def pullFee(
    _orderId: bytes32,
    _payer: address,
    _feeAmount: uint256,
    _deadline: uint256,
    _signature: Bytes[65],
    _builderId: uint256,
):
    """@notice Take the fee from the payer (allowance) under the payer's PullFee signature."""
    self._pull(_orderId, _payer, _feeAmount, _deadline, _signature, _builderId)


@internal
def _pull(
    _orderId: bytes32,
    _payer: address,
    _feeAmount: uint256,
    _deadline: uint256,
    _signature: Bytes[65],
    _builderId: uint256,
):
    assert msg.sender == self.operator, "escrow: only the operator"
    assert self.feeRecords[_orderId].status == UNUSED, "escrow: order id already used"
    assert block.timestamp < _deadline, "escrow: authorisation expired"
    assert _feeAmount > 0, "escrow: zero fee"
    split: Split = self.splits[_builderId]
    assert split.treasury != empty(address), "escrow: builder has no split"
    signer: address = self._signer(self._digest(_orderId, _payer, _feeAmount, _deadline), _signature)
    assert signer != empty(address) and signer == _payer, "escrow: not signed by the payer"
    # Field by field: a struct literal would also write the zeros.
    self.feeRecords[_orderId].payer = _payer
    self.feeRecords[_orderId].builderId = _builderId
    self.feeRecords[_orderId].feeAmount = _feeAmount
    self.feeRecords[_orderId].deadline = _deadline
    self.feeRecords[_orderId].status = PULLED
    if split.affiliate != empty(address):
        self.feeRecords[_orderId].affiliate = split.affiliate
    self.feeRecords[_orderId].treasury = split.treasury
    self.feeRecords[_orderId].affiliateBps = split.affiliateBps
    self.feeRecords[_orderId].pulledAt = block.timestamp
    assert extcall self.token.transferFrom(_payer, self, _feeAmount), "escrow: transfer failed"
    log FeePulled(orderId=_orderId, payer=_payer, builderId=_builderId, amount=_feeAmount)


@internal
def _settle(_orderId: bytes32, _filled: uint256, _size: uint256, _reason: uint8):
    assert msg.sender == self.operator, "escrow: only the operator"
    record: FeeRecord = self.feeRecords[_orderId]
    assert record.status == PULLED, "escrow: not held"
    assert _size > 0 and _filled <= _size, "escrow: filled must be within size"
    # The filled share, rounded down (the payer keeps the rounding); the affiliate's part of
    # it rounded down, the treasury the remainder: the three always add up to the fee.
    distributed: uint256 = record.feeAmount * _filled // _size
    affiliate_amount: uint256 = 0
    if record.affiliate != empty(address):
        affiliate_amount = distributed * record.affiliateBps // BPS
    treasury_amount: uint256 = distributed - affiliate_amount
    refund: uint256 = record.feeAmount - distributed
    if refund > 0:
        assert _reason > 0 and _reason <= MAX_REASON, "escrow: a refund needs a reason"
    status: uint8 = PARTIALLY_DISTRIBUTED
    if refund == 0:
        status = DISTRIBUTED
    elif distributed == 0:
        status = REFUNDED
    self.feeRecords[_orderId].status = status
    self.feeRecords[_orderId].filled = _filled
    self.feeRecords[_orderId].size = _size
    self.feeRecords[_orderId].affiliateAmount = affiliate_amount
    self.feeRecords[_orderId].treasuryAmount = treasury_amount
    self.feeRecords[_orderId].refundAmount = refund
    self.feeRecords[_orderId].settledAt = block.timestamp
    if refund > 0:
        self.feeRecords[_orderId].refundReason = _reason
    if affiliate_amount > 0:
        assert extcall self.token.transfer(record.affiliate, affiliate_amount), "escrow: transfer failed"
    if treasury_amount > 0:
        assert extcall self.token.transfer(record.treasury, treasury_amount), "escrow: transfer failed"
    if distributed > 0:
        log FeeDistributed(
            orderId=_orderId, affiliate=record.affiliate, treasury=record.treasury,
            affiliateAmount=affiliate_amount, treasuryAmount=treasury_amount,
        )
    if refund > 0:
        assert extcall self.token.transfer(record.payer, refund), "escrow: transfer failed"
        log FeeRefunded(orderId=_orderId, payer=record.payer, amount=refund, reason=_reason)


@external
def settle(_orderId: bytes32, _filled: uint256, _size: uint256, _reason: uint8):
    """@notice The order ended: distribute the filled share (filled / size), refund the rest."""
    self._settle(_orderId, _filled, _size, _reason)


@external
def refund(_orderId: bytes32, _reason: uint8):
    """@notice Nothing filled (cancelled, failed submission, stuck pending): the whole fee back."""
    self._settle(_orderId, 0, 1, _reason)

