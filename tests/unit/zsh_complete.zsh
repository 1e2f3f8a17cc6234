# Helper of test_completion.sh: types LINE<TAB> into an interactive zsh (in a
# pseudo-terminal) that loaded the completion from FPATH_DIR, in folder DIR,
# and prints the command line as completion left it.
#   zsh -f zsh_complete.zsh FPATH_DIR DIR LINE
setopt extendedglob
zmodload zsh/zpty || exit 1
zpty -b z zsh -f -i
# The prompt is spelt apart so that the echo of this line does not match it.
zpty -w z "PROMPT='RE''ADY> '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -d $2/.zcompdump; cd $2; bindkey -e"
zpty -r -m z x '*READY> *' || exit 1
zpty -n -w z "$3"$'\t'
sleep 1
zpty -n -w z $'\C-e; : ENDMARK\n'
out=""
integer n=0
while (( n++ < 100 )); do
  zpty -r -t z chunk && out+=$chunk
  [[ $out == *ENDMARK*READY\>* ]] && break
  sleep 0.1
done
zpty -d z
# Terminal escapes out, backspaces applied, the line before the marker.
out=${out//$'\e'\[[0-9;?]#[a-zA-Z]/}
out=${out//$'\r'/}
while [[ $out == *?$'\b'* ]]; do out=${out//[^$'\b']$'\b'/}; done
line=${${out%%; : ENDMARK*}##*$'\n'}
line=${line##*READY> }
print -r -- "${line%% #}"
