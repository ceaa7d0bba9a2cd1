from ai.stigmer.agentic.agentexecution.v1 import enum_pb2 as _enum_pb2
from ai.stigmer.agentic.agentexecution.v1 import spec_pb2 as _spec_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusList(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_LIST_UNSPECIFIED: _ClassVar[StatusList]
    STATUS_LIST_MESSAGES: _ClassVar[StatusList]
    STATUS_LIST_TOOL_CALLS: _ClassVar[StatusList]
    STATUS_LIST_SUB_AGENT_EXECUTIONS: _ClassVar[StatusList]
STATUS_LIST_UNSPECIFIED: StatusList
STATUS_LIST_MESSAGES: StatusList
STATUS_LIST_TOOL_CALLS: StatusList
STATUS_LIST_SUB_AGENT_EXECUTIONS: StatusList

class StatusFields(_message.Message):
    __slots__ = ("phase", "error", "started_at", "completed_at")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    phase: _enum_pb2.ExecutionPhase
    error: str
    started_at: str
    completed_at: str
    def __init__(self, phase: _Optional[_Union[_enum_pb2.ExecutionPhase, str]] = ..., error: _Optional[str] = ..., started_at: _Optional[str] = ..., completed_at: _Optional[str] = ...) -> None: ...

class IndexedMessage(_message.Message):
    __slots__ = ("index", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    message: _spec_pb2.AgentMessage
    def __init__(self, index: _Optional[int] = ..., message: _Optional[_Union[_spec_pb2.AgentMessage, _Mapping]] = ...) -> None: ...

class TextAppend(_message.Message):
    __slots__ = ("index", "offset", "text")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    index: int
    offset: int
    text: str
    def __init__(self, index: _Optional[int] = ..., offset: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class IndexedToolCall(_message.Message):
    __slots__ = ("index", "tool_call")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    index: int
    tool_call: _spec_pb2.ToolCall
    def __init__(self, index: _Optional[int] = ..., tool_call: _Optional[_Union[_spec_pb2.ToolCall, _Mapping]] = ...) -> None: ...

class IndexedSubAgent(_message.Message):
    __slots__ = ("index", "sub_agent")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SUB_AGENT_FIELD_NUMBER: _ClassVar[int]
    index: int
    sub_agent: _spec_pb2.SubAgentExecution
    def __init__(self, index: _Optional[int] = ..., sub_agent: _Optional[_Union[_spec_pb2.SubAgentExecution, _Mapping]] = ...) -> None: ...

class KeyedTodo(_message.Message):
    __slots__ = ("key", "todo")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TODO_FIELD_NUMBER: _ClassVar[int]
    key: str
    todo: _spec_pb2.TodoItem
    def __init__(self, key: _Optional[str] = ..., todo: _Optional[_Union[_spec_pb2.TodoItem, _Mapping]] = ...) -> None: ...

class TodoRemoval(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class ListTruncate(_message.Message):
    __slots__ = ("list", "length", "previous_length")
    LIST_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_LENGTH_FIELD_NUMBER: _ClassVar[int]
    list: StatusList
    length: int
    previous_length: int
    def __init__(self, list: _Optional[_Union[StatusList, str]] = ..., length: _Optional[int] = ..., previous_length: _Optional[int] = ...) -> None: ...

class StatusChange(_message.Message):
    __slots__ = ("set", "put_message", "append_text", "put_tool_call", "put_sub_agent", "put_todo", "truncate", "remove_todo")
    SET_FIELD_NUMBER: _ClassVar[int]
    PUT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    APPEND_TEXT_FIELD_NUMBER: _ClassVar[int]
    PUT_TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    PUT_SUB_AGENT_FIELD_NUMBER: _ClassVar[int]
    PUT_TODO_FIELD_NUMBER: _ClassVar[int]
    TRUNCATE_FIELD_NUMBER: _ClassVar[int]
    REMOVE_TODO_FIELD_NUMBER: _ClassVar[int]
    set: StatusFields
    put_message: IndexedMessage
    append_text: TextAppend
    put_tool_call: IndexedToolCall
    put_sub_agent: IndexedSubAgent
    put_todo: KeyedTodo
    truncate: ListTruncate
    remove_todo: TodoRemoval
    def __init__(self, set: _Optional[_Union[StatusFields, _Mapping]] = ..., put_message: _Optional[_Union[IndexedMessage, _Mapping]] = ..., append_text: _Optional[_Union[TextAppend, _Mapping]] = ..., put_tool_call: _Optional[_Union[IndexedToolCall, _Mapping]] = ..., put_sub_agent: _Optional[_Union[IndexedSubAgent, _Mapping]] = ..., put_todo: _Optional[_Union[KeyedTodo, _Mapping]] = ..., truncate: _Optional[_Union[ListTruncate, _Mapping]] = ..., remove_todo: _Optional[_Union[TodoRemoval, _Mapping]] = ...) -> None: ...

class AgentExecutionStatusPatch(_message.Message):
    __slots__ = ("execution_id", "sequence", "changes")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    sequence: int
    changes: _containers.RepeatedCompositeFieldContainer[StatusChange]
    def __init__(self, execution_id: _Optional[str] = ..., sequence: _Optional[int] = ..., changes: _Optional[_Iterable[_Union[StatusChange, _Mapping]]] = ...) -> None: ...

class AgentExecutionStatusPatchResult(_message.Message):
    __slots__ = ("applied", "version", "stored_sequence", "resync_needed", "stored_version")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STORED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RESYNC_NEEDED_FIELD_NUMBER: _ClassVar[int]
    STORED_VERSION_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    version: int
    stored_sequence: int
    resync_needed: bool
    stored_version: int
    def __init__(self, applied: _Optional[bool] = ..., version: _Optional[int] = ..., stored_sequence: _Optional[int] = ..., resync_needed: _Optional[bool] = ..., stored_version: _Optional[int] = ...) -> None: ...
