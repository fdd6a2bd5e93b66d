"""``manage.py check --deploy`` (the production start) refuses a misconfigured escrow chain."""

from django.core.checks import Error, Warning, register


@register("parsec", deploy=True)
def escrow_chain_is_the_escrows(app_configs, **kwargs):
    from .errors import ChainError, ChainMisconfigured
    from .escrow_chain import escrow_reader, rpc_url

    if not rpc_url():
        return [Warning("ESCROW_RPC_URL is not set: fee escrow records cannot be checked against the chain",
                        id="parsec.W001")]
    try:
        escrow_reader()
    except ChainMisconfigured as error:
        return [Error(str(error), id="parsec.E001")]
    except ChainError as error:
        return [Warning(f"the escrow chain could not be reached to check its configuration: {error}", id="parsec.W002")]
    return []
