from tests.unknown_commands import UNKNOWN_COMMANDS
from xcache.resp.errors import unknown_command


def test_unknown_command_text_is_redis_to_the_byte():
    for argv, line in UNKNOWN_COMMANDS:
        text = ("-ERR " + unknown_command(argv)).replace("\r", " ").replace("\n", " ")
        assert text.encode() + b"\r\n" == line
