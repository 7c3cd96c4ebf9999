"""What an integration needs to connect (R-S3), split into what the API may show and what it seals.

`entry()` is exactly one entry of the connector's integrations file (the connectors validate it
with their own models), so the sealed credentials and the file stay one format. `connection()`
is the non-secret part the API shows. Secrets are `SecretStr`: a repr or a log line shows stars.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, model_validator

Url = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s/?#]+[^\s]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=4000)]
CaBundle = Annotated[
    str | None,
    Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="PEM file of the CA to trust, as a path on the connector's host (simulators, "
        "self-hosted servers); omitted: the system trust store",
    ),
]


class _Sealed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def entry(self) -> dict[str, Any]:
        raise NotImplementedError

    def connection(self) -> dict[str, Any]:
        raise NotImplementedError


class IntuneCredentials(_Sealed):
    """An Entra app registration with DeviceManagementManagedDevices.Read.All."""

    kind: Literal["intune"]
    azure_tenant_id: Name
    client_id: Name
    client_secret: Secret
    authority_url: Url | None = Field(
        None, description="sovereign clouds, simulators; default https://login.microsoftonline.com/<tenant>"
    )
    graph_base_url: Url | None = Field(None, description="default https://graph.microsoft.com")
    ca_bundle: CaBundle = None

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "azure_tenant_id": self.azure_tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        for key in ("authority_url", "graph_base_url", "ca_bundle"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def connection(self) -> dict[str, Any]:
        return {
            "azure_tenant_id": self.azure_tenant_id,
            "client_id": self.client_id,
            "authority_url": self.authority_url,
            "graph_base_url": self.graph_base_url,
            "ca_bundle": self.ca_bundle,
        }


class JamfCredentials(_Sealed):
    """A Jamf Pro API client (client_id + client_secret) or a user (username + password)."""

    kind: Literal["jamf_pro"]
    base_url: Url
    client_id: Name | None = None
    client_secret: Secret | None = None
    username: Name | None = None
    password: Secret | None = None
    ca_bundle: CaBundle = None

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> JamfCredentials:
        oauth = (self.client_id, self.client_secret)
        basic = (self.username, self.password)
        as_client = None not in oauth and basic == (None, None)
        as_user = None not in basic and oauth == (None, None)
        if not (as_client or as_user):
            raise ValueError("give client_id and client_secret, or username and password (not both)")
        return self

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base_url": self.base_url}
        if self.client_id is not None and self.client_secret is not None:
            out |= {"client_id": self.client_id, "client_secret": self.client_secret.get_secret_value()}
        elif self.username is not None and self.password is not None:
            out |= {"username": self.username, "password": self.password.get_secret_value()}
        if self.ca_bundle is not None:
            out["ca_bundle"] = self.ca_bundle
        return out

    def connection(self) -> dict[str, Any]:
        oauth = self.client_id is not None
        return {
            "base_url": self.base_url,
            "auth": "api_client" if oauth else "user",
            "client_id": self.client_id,
            "username": self.username,
            "ca_bundle": self.ca_bundle,
        }


Credentials = Annotated[IntuneCredentials | JamfCredentials, Field(discriminator="kind")]
credentials_adapter: TypeAdapter[IntuneCredentials | JamfCredentials] = TypeAdapter(Credentials)
