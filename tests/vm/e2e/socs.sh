# shellcheck shell=bash
# Sourced by tests/vm/e2e/run: issue 11's checks, every SoC the reference
# tool boots on the real kernel USB stack. Uses run's helpers (gb_start,
# wait_booted, node_json, journal_cursor, udc_port, CONF ...) and dummy UDCs
# 26-30, free once the sections before it stopped their boards.
#
#   11-mixed-socs      a Zero, a Zero 2 W, two CM4s (start4.elf leaving without
#                      a Done, and sending one) and a CM5 at once: each up on
#                      attempt 1, the CM4s through both file sessions, the SoC
#                      serials and the CM5's properties in status, the journal
#                      and StateDirectory/<serial>.json
#   11-serial-follows  a [Node] named by Serial= follows its CM4 from one port
#                      to another and boots there on attempt 1

SOC_BOARDS=(--board '1:soc=2835' --board '2:soc=2837' --board '3:soc=2711:serial=a1b2c3d4'
	--board '4:soc=2711:serial=a1b2c3d5:handoff=done:serial-index=1'
	--board '5:soc=2712:serial=e5f6a7b8:product=d0')

# soc_why GB: what is wrong with the mixed set beyond "booted" (empty: nothing)
soc_why() {
	local gb=$1 b port att node_att why=''
	daemon_nodes
	for b in 1 2 3 4 5; do
		port=$(gb_field "$gb" "$b" .port)
		att=$(gb_field "$gb" "$b" .attempt)
		node_att=$(node_line "$port" | awk '{ print $4 }')
		[ "$att" = 1 ] || why+="board $b ($(gb_field "$gb" "$b" .soc)) entered its ROM $att times; "
		[ "$node_att" = 1 ] || why+="node $port is on attempt ${node_att:-?}; "
	done
	for b in 3 4; do
		[ "$(gb_field "$gb" "$b" .file_sessions)" = 2 ] ||
			why+="CM4 board $b had $(gb_field "$gb" "$b" .file_sessions) file sessions, not 2; "
	done
	[ "$(gb_field "$gb" 5 .metadata_answered)" = 3 ] ||
		why+="the CM5's 3 properties got $(gb_field "$gb" 5 .metadata_answered) zero-length answers; "
	echo "$why"
}

# soc_identity_why GB CURSOR: serials and properties as the daemon shows them, logs and keeps them
soc_identity_why() {
	local gb=$1 cur=$2 p1 p3 p4 p5 why='' meta out retried
	p1=$(gb_field "$gb" 1 .port) p3=$(gb_field "$gb" 3 .port) p4=$(gb_field "$gb" 4 .port)
	p5=$(gb_field "$gb" 5 .port)
	[ -z "$(node_field "$p1" serial)" ] || why+="the Zero's node shows serial $(node_field "$p1" serial); "
	[ "$(node_field "$p3" serial)" = a1b2c3d4 ] || why+="node $p3's serial is '$(node_field "$p3" serial)'; "
	[ "$(node_field "$p4" serial)" = a1b2c3d5 ] || why+="node $p4's serial is '$(node_field "$p4" serial)'; "
	[ "$(node_field "$p5" serial)" = e5f6a7b8 ] || why+="node $p5's serial is '$(node_field "$p5" serial)'; "
	meta=$(node_json "$p5" | jq -c '.metadata // {}')
	jq -e '.MAC_ADDR == "2c:cf:67:00:00:01" and .USER_SERIAL_NUM == "00000000" and (.BOOT_ROM | type) == "string"
		and length == 3' <<< "$meta" > /dev/null || why+="node $p5's metadata: $meta; "
	out=$(clusterbootctl status "$p5" 2>&1)
	grep -q 'Serial: e5f6a7b8' <<< "$out" && grep -q 'MAC_ADDR=2c:cf:67:00:00:01' <<< "$out" ||
		why+="clusterbootctl status $p5 shows no serial or MAC_ADDR; "
	journalctl -q -u clusterboot.service --after-cursor="$cur" -o json --no-pager \
		CLUSTERBOOT_NODE="$p5" CLUSTERBOOT_PROPERTY=MAC_ADDR |
		jq -e -s 'any(.[]; .CLUSTERBOOT_PROPERTY_VALUE == "2c:cf:67:00:00:01")' > /dev/null ||
		why+="no journal entry with CLUSTERBOOT_PROPERTY=MAC_ADDR for node $p5; "
	jq -e '.MAC_ADDR == "2c:cf:67:00:00:01"' /var/lib/clusterboot/e5f6a7b8.json > /dev/null 2>&1 ||
		why+="/var/lib/clusterboot/e5f6a7b8.json: $(head -c 200 /var/lib/clusterboot/e5f6a7b8.json 2>&1); "
	jq -e '.MAC_ADDR == "dc:a6:32:00:00:01"' /var/lib/clusterboot/a1b2c3d4.json > /dev/null 2>&1 ||
		why+="/var/lib/clusterboot/a1b2c3d4.json: $(head -c 200 /var/lib/clusterboot/a1b2c3d4.json 2>&1); "
	# every line of a node carries its state: one saying "retrying" means an attempt was spent
	retried=$(journalctl -q -u clusterboot.service --after-cursor="$cur" -o json --no-pager CLUSTERBOOT_STATE=retrying |
		jq -r --arg ports "$(gb_ports "$gb" | paste -sd' ')" \
			'select(.CLUSTERBOOT_PORT as $p | $ports | split(" ") | index($p)) | .CLUSTERBOOT_PORT' | sort -u | paste -sd' ')
	[ -z "$retried" ] || why+="nodes retried: $retried; "
	echo "$why"
}

node_port_is() { [ "$(node_field "$1" port)" = "$2" ]; }

S=11-mixed-socs
say "scenario $S"
cur=$(journal_cursor)
if ! unit_active && ! systemctl start clusterboot.service; then
	fail "$S" "clusterboot.service would not start"
elif gb_start soc 26 5 "${SOC_BOARDS[@]}"; then
	if ! wait_booted soc "$T_MANY"; then
		fail "$S" "$WHY"
		dump_failure soc
	else
		why=$(soc_why soc)
		# the files the properties are kept in are written once their boot is over: give them the time
		poll "$T_SHORT" test -s /var/lib/clusterboot/e5f6a7b8.json
		poll "$T_SHORT" test -s /var/lib/clusterboot/a1b2c3d4.json
		why+=$(soc_identity_why soc "$cur")
		if [ -n "$why" ]; then
			fail "$S" "$why"
			dump_failure soc
		else
			pass "$S" "2835, 2837, two 2711 (start4.elf's second session, with and without a Done) and a 2712 up at once in ${BOOT_SECS}s, each on attempt 1; SoC serials, the CM5's 3 properties in status, journal and <serial>.json"
		fi
	fi
	gb_stop soc
else
	fail "$S" "gadget-boards did not start"
fi

# --- a node named by its board's SoC serial follows the board to another port
S=11-serial-follows
say "scenario $S"
if ! { p_from=$(udc_port 26) && p_to=$(udc_port 28); }; then
	fail "$S" "no dummy_udc.26 or dummy_udc.28"
else
	{ cat "$W/clusterboot.conf.orig"; printf '\n# 11-serial-follows\n[Node cm4]\nSerial=a1b2c3d4\n'; } > "$CONF"
	cur=$(journal_cursor)
	if ! out=$(systemctl reload clusterboot.service 2>&1); then
		fail "$S" "reload with [Node cm4] Serial=a1b2c3d4 failed: $(head -c 200 <<< "$out")"
	elif ! gb_start sf1 26 1 --board '1:soc=2711:serial=a1b2c3d4'; then
		fail "$S" "gadget-boards did not start"
	elif ! poll "$T_BOOT" node_state_is cm4 up || ! wait_booted sf1 "$T_SHORT"; then
		fail "$S" "on $p_from: node cm4 is $(node_summary cm4), board: $(gb_unverified sf1 | join)"
		dump_failure sf1
	elif [ "$(node_field cm4 port)" != "$p_from" ]; then
		fail "$S" "the board is up on $p_from but node cm4 says port '$(node_field cm4 port)'"
	else
		# moved: out of its port, into another one, in its ROM again
		gb_stop sf1
		if ! gb_start sf2 28 1 --board '1:soc=2711:serial=a1b2c3d4'; then
			fail "$S" "gadget-boards did not start for the second port"
		elif ! poll "$T_BOOT" node_port_is cm4 "$p_to" ||
			! poll "$T_BOOT" node_state_is cm4 up || ! wait_booted sf2 "$T_SHORT"; then
			fail "$S" "after the move to $p_to: node cm4 is $(node_json cm4), board: $(gb_unverified sf2 | join)"
			dump_failure sf2
		elif [ "$(node_field cm4 attempt)" != 1 ] || [ "$(node_field cm4 serial)" != a1b2c3d4 ]; then
			fail "$S" "node cm4 on $p_to: $(node_json cm4 | jq -c '{attempt, serial}')"
		elif ! journalctl -q -u clusterboot.service --after-cursor="$cur" -o cat --no-pager |
			grep -q "serial a1b2c3d4) is now on port $p_to"; then
			journalctl -q -u clusterboot.service --after-cursor="$cur" -o cat --no-pager | tail -n 8 | show
			fail "$S" "the journal does not say the board is now on port $p_to"
		elif clusterbootctl status --json=short | jq -e --arg p "$p_to" 'any(.nodes[]; .name == $p)' > /dev/null; then
			fail "$S" "port $p_to also has an automatic node of its own"
		else
			pass "$S" "[Node cm4] Serial=a1b2c3d4 booted on $p_from, then followed the board to $p_to: up there on attempt 1, the move logged"
		fi
		gb_stop sf2
	fi
	gb_stop sf1
	cp "$W/clusterboot.conf.orig" "$CONF"
	systemctl restart clusterboot.service
	poll "$T_SHORT" unit_active
fi
