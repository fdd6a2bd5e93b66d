# pragma version 0.4.3
"""
@title Mock USDC
@notice The sandbox chain's stand-in for USDC on Polygon: a plain ERC-20 with 6 decimals.
        The minter (the sandbox's operator account) creates tokens for demo wallets and the faucet.
"""

from ethereum.ercs import IERC20

implements: IERC20

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(constant(String[32])) = "USD Coin (sandbox)"
symbol: public(constant(String[8])) = "USDC"
decimals: public(constant(uint8)) = 6

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: public(address)


@deploy
def __init__():
    self.minter = msg.sender


@external
def transfer(_to: address, _value: uint256) -> bool:
    self._transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    allowed: uint256 = self.allowance[_from][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= _value, "USDC: allowance too low"
        self.allowance[_from][msg.sender] = allowed - _value
    self._transfer(_from, _to, _value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True


@external
def mint(_to: address, _value: uint256):
    assert msg.sender == self.minter, "USDC: only the minter mints"
    assert _to != empty(address), "USDC: mint to the zero address"
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(sender=empty(address), receiver=_to, value=_value)


@internal
def _transfer(_from: address, _to: address, _value: uint256):
    assert _to != empty(address), "USDC: transfer to the zero address"
    balance: uint256 = self.balanceOf[_from]
    assert balance >= _value, "USDC: balance too low"
    self.balanceOf[_from] = balance - _value
    self.balanceOf[_to] += _value
    log Transfer(sender=_from, receiver=_to, value=_value)
