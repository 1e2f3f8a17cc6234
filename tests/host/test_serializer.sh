#!/usr/bin/env bash
# Serializer rules outside the JS golden corpus (documented in
# tests/host/goldens/README.md): exact int64 integers, 17-digit floats,
# nil arguments omitted, ee.null sent as null, numbers kept as integers.
set -u
BIN="$EEFETCH_BIN"
ALGS="$EEFETCH_SRC/data/algorithms-signatures.json"
fails=0
check() {
  local code="$1" want="$2" out
  out=$("$BIN" eval --algorithms "$ALGS" "print(ee.serialize($code))" 2>&1)
  if [ "$out" = "$want" ]; then echo "ok: $code"; else
    echo "FAIL: $code"; echo "  want: $want"; echo "  got:  $out"; fails=$((fails + 1)); fi
}
check 'ee.Number(112233445566778899)' '{"result":"0","values":{"0":{"integerValue":"112233445566778899"}}}'
check 'ee.Number(9007199254740993)' '{"result":"0","values":{"0":{"integerValue":"9007199254740993"}}}'
check 'ee.Number(9007199254740992)' '{"result":"0","values":{"0":{"constantValue":9007199254740992}}}'
check 'ee.Number(-4611686018427387905)' '{"result":"0","values":{"0":{"integerValue":"-4611686018427387905"}}}'
check 'ee.Number(0.1 + 0.2)' '{"result":"0","values":{"0":{"constantValue":0.30000000000000004}}}'
check 'ee.Number(1/3)' '{"result":"0","values":{"0":{"constantValue":0.3333333333333333}}}'
check 'ee.Number(30.0)' '{"result":"0","values":{"0":{"constantValue":30}}}'
check 'ee.Number(1672531200000)' '{"result":"0","values":{"0":{"constantValue":1672531200000}}}'
check 'ee.String("a\"b\\c\n")' '{"result":"0","values":{"0":{"constantValue":"a\"b\\c\n"}}}'
check 'ee.Image("a"):unmask(nil, true)' '{"result":"0","values":{"0":{"functionInvocationValue":{"arguments":{"input":{"functionInvocationValue":{"arguments":{"id":{"constantValue":"a"}},"functionName":"Image.load"}},"sameFootprint":{"constantValue":true}},"functionName":"Image.unmask"}}}}'
check 'ee.Image("a"):unmask(ee.null, true)' '{"result":"0","values":{"0":{"functionInvocationValue":{"arguments":{"input":{"functionInvocationValue":{"arguments":{"id":{"constantValue":"a"}},"functionName":"Image.load"}},"sameFootprint":{"constantValue":true},"value":{"constantValue":null}},"functionName":"Image.unmask"}}}}'
check 'ee.List({})' '{"result":"0","values":{"0":{"constantValue":[]}}}'
check 'ee.Dictionary()' '{"result":"0","values":{"0":{"constantValue":{}}}}'
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
