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
#   11-wire-2835       a Zero set up as the reference capture's was (its files'
#                      sizes, its requests): usbmon's record of what the daemon
#                      sent, normalised, is the reference's line for line
# The mixed set's buses are recorded with usbmon too; run-e2e.sh checks those
# records against the reference host's rules (11-wire-2837, -2711, -2712).

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

# soc_identity_why GB: serials and properties as the daemon shows them, logs and keeps them
soc_identity_why() {
	local gb=$1 p1 p3 p4 p5 why='' meta out retried props
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
	# by the daemon's PID (started afresh before this check), not after a cursor: in one run the
	# entries after a cursor taken at the start lacked the CM5's, logged 13 s later (cause not found)
	props=$(journalctl -q _PID="$(main_pid)" -o json --no-pager CLUSTERBOOT_PROPERTY=MAC_ADDR |
		jq -r '"\(.CLUSTERBOOT_PORT)=\(.CLUSTERBOOT_PROPERTY_VALUE)"' | sort -u | paste -sd' ')
	[[ " $props " == *" $p5=2c:cf:67:00:00:01 "* ]] ||
		why+="no journal entry with CLUSTERBOOT_PROPERTY=MAC_ADDR, CLUSTERBOOT_PROPERTY_VALUE=2c:cf:67:00:00:01 for node $p5 (seen: ${props:-none}); "
	jq -e '.MAC_ADDR == "2c:cf:67:00:00:01"' /var/lib/clusterboot/e5f6a7b8.json > /dev/null 2>&1 ||
		why+="/var/lib/clusterboot/e5f6a7b8.json: $(head -c 200 /var/lib/clusterboot/e5f6a7b8.json 2>&1); "
	jq -e '.MAC_ADDR == "dc:a6:32:00:00:01"' /var/lib/clusterboot/a1b2c3d4.json > /dev/null 2>&1 ||
		why+="/var/lib/clusterboot/a1b2c3d4.json: $(head -c 200 /var/lib/clusterboot/a1b2c3d4.json 2>&1); "
	# every line of a node carries its state: one saying "retrying" means an attempt was spent
	retried=$(journalctl -q _PID="$(main_pid)" -o json --no-pager CLUSTERBOOT_STATE=retrying |
		jq -r --arg ports "$(gb_ports "$gb" | paste -sd' ')" \
			'select(.CLUSTERBOOT_PORT as $p | $ports | split(" ") | index($p)) | .CLUSTERBOOT_PORT' | sort -u | paste -sd' ')
	[ -z "$retried" ] || why+="nodes retried: $retried; "
	echo "$why"
}

node_port_is() { [ "$(node_field "$1" port)" = "$2" ]; }

# ---- usbmon captures of single boards' buses, checked on the host (tests/vm/wire-check.py)
declare -A WIRE_PID
WIRE_MON=/sys/kernel/debug/usb/usbmon
wire_ready() {
	[ -d "$WIRE_MON" ] && return 0
	modprobe usbmon 2> /dev/null
	mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2> /dev/null
	[ -d "$WIRE_MON" ]
}
# wire_start NAME UDC: records every URB of dummy_udc.UDC's bus to $ART/wire-NAME.usbmon
wire_start() {
	local port
	port=$(udc_port "$2") || return 1
	wire_ready || return 1
	cat "$WIRE_MON/${port%-1}u" > "$ART/wire-$1.usbmon" &
	WIRE_PID[$1]=$!
}
# the SET_CONFIGURATIONs completed so far in a capture: one per device the board showed (ROM, stages, gadget)
wire_configs() {
	awk '$3 == "S" && $5 == "s" && $6 == "00" && $7 == "09" { t[$1] = 1 }
		$3 == "C" && ($1 in t) { n++; delete t[$1] } END { print n + 0 }' "$ART/wire-$1.usbmon"
}
wire_has_configs() { [ "$(wire_configs "$1")" -ge "$2" ]; }
# wire_stop NAME CONFIGS: once the capture holds CONFIGS configured devices (the last, its gadget), ends it
wire_stop() {
	local pid=${WIRE_PID[$1]:-}
	[ -n "$pid" ] || return 0
	poll "$T_SHORT" wire_has_configs "$1" "$2" || say "wire-$1: $(wire_configs "$1") devices configured, not $2"
	kill "$pid" 2> /dev/null
	wait "$pid" 2> /dev/null
	unset "WIRE_PID[$1]"
}

S=11-mixed-socs
say "scenario $S"
if ! unit_active && ! systemctl start clusterboot.service; then
	fail "$S" "clusterboot.service would not start"
elif ! systemctl restart clusterboot.service || ! poll "$T_SHORT" unit_active; then
	fail "$S" "clusterboot.service would not restart"
elif wire_ready && for b in 1 2 3 4 5; do wire_start "soc$b" $((25 + b)); done &&
	gb_start soc 26 5 "${SOC_BOARDS[@]}"; then
	if ! wait_booted soc "$T_MANY"; then
		fail "$S" "$WHY"
		dump_failure soc
	else
		why=$(soc_why soc)
		# the files the properties are kept in are written once their boot is over: give them the time
		poll "$T_SHORT" test -s /var/lib/clusterboot/e5f6a7b8.json
		poll "$T_SHORT" test -s /var/lib/clusterboot/a1b2c3d4.json
		why+=$(soc_identity_why soc)
		if [ -n "$why" ]; then
			fail "$S" "$why"
			dump_failure soc
		else
			pass "$S" "2835, 2837, two 2711 (start4.elf's second session, with and without a Done) and a 2712 up at once in ${BOOT_SECS}s, each on attempt 1; SoC serials, the CM5's 3 properties in status, journal and <serial>.json"
		fi
	fi
	for b in 1 2 5; do wire_stop "soc$b" 3; done
	for b in 3 4; do wire_stop "soc$b" 4; done # the 2711's second session is a device of its own
	gb_stop soc
else
	fail "$S" "usbmon or gadget-boards did not start"
fi
for b in 1 2 3 4 5; do wire_stop "soc$b" 0; done

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
	elif ! poll "$T_BOOT" node_state_is cm4 up || ! poll "$T_SHORT" gb_all_verified sf1; then
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
			! poll "$T_BOOT" node_state_is cm4 up || ! poll "$T_SHORT" gb_all_verified sf2; then
			fail "$S" "after the move to $p_to: node cm4 is $(node_json cm4), board: $(gb_unverified sf2 | join)"
			dump_failure sf2
		elif [ "$(node_field cm4 attempt)" != 1 ] || [ "$(node_field cm4 serial)" != a1b2c3d4 ]; then
			fail "$S" "node cm4 on $p_to: $(node_json cm4 | jq -c '{attempt, serial}')"
		elif ! journalctl -q -u clusterboot.service --after-cursor="$cur" -o cat --no-pager |
			grep -q "serial a1b2c3d4) is now on port $p_to"; then
			journalctl -q -u clusterboot.service --after-cursor="$cur" -o cat --no-pager | tail -n 8 | show
			fail "$S" "the journal does not say the board is now on port $p_to"
		elif clusterbootctl status --json=short |
			jq -e --arg p "$p_to" 'any(.nodes[]; .name == $p and .state != "absent")' > /dev/null; then
			# (11-mixed-socs left an automatic node for the port, absent: the board is cm4's, not its)
			fail "$S" "the automatic node $p_to took the board too: $(node_json "$p_to")"
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

# --- 11-wire-2835: the reference capture's set-up, the daemon's wire record
# The boot directory of the reference capture (../shared/reference/rpiboot-wire-zero.txt): its files'
# sizes, autoboot.txt and recovery.elf missing, a board that asks for no overlay and reads a
# missing file after being told its size is 0, as the board of that capture did.
S=11-wire-2835
say "scenario $S"
WIRE_DIR=/var/lib/clusterboot/wire-ref
WIRE_REQUESTS=autoboot.txt,config.txt,recovery.elf,start.elf,fixup.dat,config.txt,cmdline.txt,kernel.img,bcm2708-rpi-zero-w.dtb
mkdir -p "$WIRE_DIR"
for f in bootcode.bin:52460 start.elf:2973536 fixup.dat:7262 config.txt:29 cmdline.txt:70 kernel.img:5242880 \
	bcm2708-rpi-zero-w.dtb:25600; do
	head -c "${f#*:}" /dev/urandom > "$WIRE_DIR/${f%%:*}"
done
if ! p_wire=$(udc_port 29); then
	fail "$S" "no dummy_udc.29"
else
	{ cat "$W/clusterboot.conf.orig"; printf '\n# 11-wire-2835\n[Node wire]\nPort=%s\nBootDirectory=%s\n' "$p_wire" "$WIRE_DIR"; } > "$CONF"
	if ! out=$(systemctl reload clusterboot.service 2>&1); then
		fail "$S" "reload with [Node wire] failed: $(head -c 200 <<< "$out")"
	elif ! wire_start wire 29; then
		fail "$S" "usbmon is not available"
	elif ! gb_start wire 29 1 --boot-dir "$WIRE_DIR" --board "1:soc=2835:read-missing=yes:requests=$WIRE_REQUESTS"; then
		fail "$S" "gadget-boards did not start"
	elif ! poll "$T_BOOT" node_state_is wire up || ! poll "$T_SHORT" gb_all_verified wire; then
		fail "$S" "node wire is $(node_summary wire); board: $(gb_unverified wire | join)"
		dump_failure wire
	else
		wire_stop wire 3
		# judged on the host (run-e2e.sh), which has the reference: only a failure to boot is reported here
		say "$S: booted from $WIRE_DIR; resets seen by the board: $(gb_field wire 1 .resets_seen)"
	fi
	wire_stop wire 0
	gb_stop wire
	cp "$W/clusterboot.conf.orig" "$CONF"
	systemctl reload clusterboot.service || systemctl restart clusterboot.service
fi
