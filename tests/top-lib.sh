# top-lib.sh - tmux helpers for tests/t/t4*.sh (sourced after tests/lib.sh).
#
#   top_tmux_start      a 120x40 tmux session "top" running sh with prompt "prompt$ "
#   tm ARGS...          tmux on this test's own server
#   screen              the pane's text
#   wait_screen RE      waits up to 3 s for the pane to match the extended regex RE
#   wait_restored       waits up to 1 s for the alternate screen to be off and the prompt back
#   top_tmux_stop       kills the server
TOP_SOCK=sonda-$TEST_NAME-$$

tm() { tmux -L "$TOP_SOCK" "$@"; }
screen() { tm capture-pane -p -t top; }
wait_screen() { test_wait_for "screen | grep -E -q -e \"$1\"" 3 || { screen; return 1; }; }
alt_off() { test "$(tm display -p -t top '#{alternate_on}')" = 0; }
prompt_back() { screen | grep -q '^prompt\$'; }
wait_restored() { test_wait_for alt_off 1 && test_wait_for prompt_back 1; }
top_tmux_start() {
	tm -f /dev/null new-session -d -x 120 -y 40 -s top "env PS1='prompt\$ ' TERM=screen sh" &&
	tm set-option -g status off >/dev/null
}
top_tmux_stop() { tm kill-server 2>/dev/null; }
