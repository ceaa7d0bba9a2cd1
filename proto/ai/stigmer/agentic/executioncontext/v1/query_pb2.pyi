from ai.stigmer.agentic.executioncontext.v1 import api_pb2 as _api_pb2
from ai.stigmer.agentic.executioncontext.v1 import io_pb2 as _io_pb2
from ai.stigmer.commons.apiresource import io_pb2 as _io_pb2_1
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
