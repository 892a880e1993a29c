"""TFRecord files and tf.train.Example records, read without TensorFlow.

Framing of each record: uint64 length (little endian), uint32 masked CRC-32C of those 8 bytes,
the data, uint32 masked CRC-32C of the data. The Example message is built at run time from its
published definition (tensorflow/core/example/{example,feature}.proto):

    Example { Features features = 1; }     Features { map<string, Feature> feature = 1; }
    Feature { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; } FloatList { repeated float value = 1; } Int64List { repeated int64 value = 1; }

The length CRC is always checked; the data CRC (pure Python, a few MB/s) only on request, since a
damaged record almost always fails to parse anyway.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from vibe.errors import InputError

_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_PACKAGE = "vibe_tfexample"


@lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (_CRC32C_POLY if crc & 1 else 0)
        table.append(crc)
    return tuple(table)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of `data`."""
    table, crc = _crc_table(), _U32
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _U32


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC: the CRC rotated right by 15 bits plus a constant (mod 2^32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def read_records(path: str | Path, verify_data: bool = False) -> Iterator[bytes]:
    """The records of a TFRecord file, one at a time; InputError on a damaged or truncated file."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise InputError(f"TFRecord file {path} cannot be opened ({err.strerror}); check --src") from None
    with handle:
        index = 0
        while header := handle.read(_HEADER.size):
            if len(header) < _HEADER.size:
                raise InputError(f"TFRecord file {path} is truncated in record {index}; download it again")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc(header[:8]) != length_crc:
                raise InputError(f"TFRecord file {path} is damaged (record {index} length checksum); download it again")
            data, crc_bytes = handle.read(length), handle.read(_CRC.size)
            if len(data) < length or len(crc_bytes) < _CRC.size:
                raise InputError(f"TFRecord file {path} is truncated in record {index}; download it again")
            if verify_data and masked_crc(data) != _CRC.unpack(crc_bytes)[0]:
                raise InputError(f"TFRecord file {path} is damaged (record {index} data checksum); download it again")
            yield data
            index += 1


@lru_cache(maxsize=1)
def example_class() -> type:
    """The tf.train.Example message class, built from its definition (no TensorFlow)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name=f"{_PACKAGE}.proto", package=_PACKAGE, syntax="proto3")

    for name, kind in (("BytesList", fdp.TYPE_BYTES), ("FloatList", fdp.TYPE_FLOAT), ("Int64List", fdp.TYPE_INT64)):
        proto.message_type.add(name=name).field.add(name="value", number=1, type=kind, label=fdp.LABEL_REPEATED)
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate((("bytes_list", "BytesList"), ("float_list", "FloatList"),
                                                ("int64_list", "Int64List")), start=1):
        feature.field.add(name=name, number=number, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                          type_name=f".{_PACKAGE}.{type_name}", oneof_index=0)
    features = proto.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=fdp.TYPE_STRING, label=fdp.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_OPTIONAL,
                    type_name=f".{_PACKAGE}.Feature")
    features.field.add(name="feature", number=1, type=fdp.TYPE_MESSAGE, label=fdp.LABEL_REPEATED,
                       type_name=f".{_PACKAGE}.Features.FeatureEntry")
    proto.message_type.add(name="Example").field.add(name="features", number=1, type=fdp.TYPE_MESSAGE,
                                                     label=fdp.LABEL_OPTIONAL, type_name=f".{_PACKAGE}.Features")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Example"))


def parse_example(record: bytes, what: str) -> dict[str, list]:
    """A serialised tf.train.Example -> {feature name: list of its values}; InputError naming `what` if damaged."""
    from google.protobuf.message import DecodeError

    example = example_class()()
    try:
        example.ParseFromString(record)
    except DecodeError:
        raise InputError(f"{what} is not a valid tf.train.Example; the file is damaged, download it again") from None
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = list(getattr(feature, kind).value) if kind else []
    return out
