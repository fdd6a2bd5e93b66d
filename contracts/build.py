"""Compile the sandbox chain's contracts and write (or check) their committed artifacts.

    .venv/bin/python contracts/build.py           # compile, write contracts/build/*.json
    .venv/bin/python contracts/build.py --check   # compile, fail if the committed artifacts differ

The artifacts are what the rest of the repo reads, so nothing compiles at run time: the sandbox
deploys ``bytecode_runtime`` at its chain's genesis (the storage slots say where the constructor's
values go) and the gateway reads ``ParsecFeeEscrow.abi.json`` (ESCROW_ABI_PATH). The compiler is
pinned in requirements-dev.txt; a different compiler version is refused, since its bytecode would
differ from the committed one for no change of source.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
CONTRACTS = ("MockUSDC", "ParsecFeeEscrow")
COMPILER = "0.4.3"
EVM_VERSION = "cancun"  # what Polygon PoS runs; the sandbox chain runs the same rules


def compile_contract(name: str) -> dict:
    import vyper
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    if vyper.__version__.split("+")[0] != COMPILER:
        raise SystemExit(f"vyper {COMPILER} is pinned (requirements-dev.txt); found {vyper.__version__}")
    source = (HERE / f"{name}.vy").read_text()
    out = compile_code(source, contract_path=f"{name}.vy", output_formats=["abi", "bytecode", "bytecode_runtime", "layout"],
                       settings=Settings(evm_version=EVM_VERSION))
    layout = out["layout"].get("storage_layout", out["layout"])
    return {
        "contract": name,
        "compiler": f"vyper {COMPILER}",
        "evm_version": EVM_VERSION,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "bytecode_runtime": out["bytecode_runtime"],
        # Only the slot numbers: the compiler's type names carry absolute paths of this machine.
        "storage_slots": {variable: spec["slot"] for variable, spec in layout.items()},
    }


def artifacts() -> dict[Path, str]:
    files = {}
    for name in CONTRACTS:
        artifact = compile_contract(name)
        files[BUILD / f"{name}.json"] = json.dumps(artifact, indent=1) + "\n"
        files[BUILD / f"{name}.abi.json"] = json.dumps(artifact["abi"], indent=1) + "\n"
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed artifacts are not current")
    args = parser.parse_args()
    files = artifacts()
    if args.check:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(HERE.parent)} is not what contracts/build.py compiles: run `make contracts`", file=sys.stderr)
        if not stale:
            print(f"contract artifacts are current ({len(files)} files, vyper {COMPILER}, {EVM_VERSION})")
        return 1 if stale else 0
    BUILD.mkdir(exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
