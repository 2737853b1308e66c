"""A python-fido2 CtapHidConnection over tpm-passkey's SOCK_SEQPACKET transport.

Each connection behaves like one opened hidraw node; every datagram is one 64-byte
report without a report-ID byte.
"""
import socket

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor


class SocketConnection(CtapHidConnection):
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)

    def read_packet(self):
        return self.sock.recv(64)

    def write_packet(self, data):
        assert len(data) == 64, len(data)
        self.sock.send(data)

    def close(self):
        self.sock.close()


def open_device(path):
    descriptor = HidDescriptor(path, 0, 0, 64, 64, "tpm-passkey (socket)", None)
    return CtapHidDevice(descriptor, SocketConnection(path))
