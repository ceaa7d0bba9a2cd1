from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ApiResourceOwnerScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    api_resource_owner_scope_unspecified: _ClassVar[ApiResourceOwnerScope]
    platform: _ClassVar[ApiResourceOwnerScope]
    organization: _ClassVar[ApiResourceOwnerScope]
    identity_account: _ClassVar[ApiResourceOwnerScope]
api_resource_owner_scope_unspecified: ApiResourceOwnerScope
platform: ApiResourceOwnerScope
organization: ApiResourceOwnerScope
identity_account: ApiResourceOwnerScope
