# SPDX-License-Identifier: GPL-2.0-or-later
# fish completion for clusterbootctl(1): options, commands, and node names
# from the running daemon (clusterbootctl list-nodes, on the socket and
# hosts given on the command line).

function __clusterbootctl_nodes
    set -l where
    set -l words (commandline -opc)
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case '--socket=*' '--host=*' '-H?*'
                set -a where $words[$i]
            case --socket --host -H
                set -a where $words[$i] $words[(math $i + 1)]
        end
        set i (math $i + 1)
    end
    clusterbootctl $where list-nodes 2>/dev/null
end

set -l commands status watch reboot power retry reload wait is-up logs metrics history timeline
complete -c clusterbootctl -f
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a status -d 'table of all nodes, or some in detail'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a watch -d 'show events as they happen'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a reboot -d 'power-cycle nodes and boot them again'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a power -d "switch nodes' power on or off"
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a retry -d "start a failed node's boot again"
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a reload -d 'make the daemon re-read its configuration'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a wait -d 'wait until the nodes are up'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a is-up -d 'exit 0 if every node is up'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a logs -d "the node's journal entries"
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a metrics -d "every node's metrics"
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a history -d 'recent boots, across daemon restarts'
complete -c clusterbootctl -n "not __fish_seen_subcommand_from $commands" -a timeline -d 'the boots as an SVG picture'

complete -c clusterbootctl -n "__fish_seen_subcommand_from status reboot retry wait is-up logs history" -a '(__clusterbootctl_nodes)'
complete -c clusterbootctl -n "__fish_seen_subcommand_from power; and not __fish_seen_subcommand_from on off" -a 'on off'
complete -c clusterbootctl -n "__fish_seen_subcommand_from power; and __fish_seen_subcommand_from on off" -a '(__clusterbootctl_nodes)'

complete -c clusterbootctl -s h -l help -d 'show a short help'
complete -c clusterbootctl -l version -d 'show the version'
complete -c clusterbootctl -l socket -r -F -d "the daemon's socket"
complete -c clusterbootctl -s H -l host -x -a '(__fish_print_hostnames)' -d 'another controller, over ssh'
complete -c clusterbootctl -s j -l json -x -a 'pretty short off' -d 'print JSON'
complete -c clusterbootctl -l no-legend -d 'no table header and summary'
complete -c clusterbootctl -l no-pager -d 'do not use a pager'
complete -c clusterbootctl -s l -l full -d 'do not cut the last column'
complete -c clusterbootctl -s q -l quiet -d 'no output where the exit status tells'
complete -c clusterbootctl -l state -x -a 'up absent failed off' -d 'wait: the state to wait for'
complete -c clusterbootctl -l timeout -x -d 'wait: give up after this long'
complete -c clusterbootctl -s n -l lines -x -d 'logs: the last N entries'
complete -c clusterbootctl -s f -l follow -d 'logs: then show new entries'
complete -c clusterbootctl -s D -l directory -x -a '(__fish_complete_directories)' -d 'logs: journal files in DIR'
complete -c clusterbootctl -s o -l output -r -F -d 'timeline: write the SVG to FILE'
complete -c clusterbootctl -l last -x -d "timeline: each node's last N boots"
complete -c clusterbootctl -l since -x -d 'timeline: boots since TIME'
complete -c clusterbootctl -l input -r -F -d 'timeline: draw a saved history --json'
