# The Nix twin of examples/bench/graph.rhai, for bench/graph.sh.
#
# `n` small text derivations, node i embedding the output of node (i - 1) / 2,
# plus `all`, one directory gathering every node as `node-<i>.txt`. Built, its
# `all` is byte-for-byte the tree imgbuild builds (bench/graph.sh checks this).
#
#     nix-instantiate --readonly-mode bench/graph.nix --argstr n 100000
#     nix-build bench/graph.nix --argstr n 1000
#
# Builders are the host's bash with builtins only: one process per derivation,
# the cheapest a Nix derivation can be. `salt` (empty by default) changes every
# derivation, so a build into a store that already holds an earlier run still
# builds everything.
{ n ? "1000", salt ? "" }:
let
  count = if builtins.isString n then builtins.fromJSON n else n;
  shell = "/bin/bash";
  system = builtins.currentSystem;
  node = i: derivation {
    name = "node-${toString i}";
    inherit system salt;
    builder = shell;
    index = toString i;
    parent = if i == 0 then "" else builtins.elemAt nodes ((i - 1) / 2);
    args = [ "-c" ''
      if [ -z "$parent" ]; then
        printf 'node 0\n' > "$out"
      else
        IFS= read -r -d "" content < "$parent"
        printf 'node %s, child of %s\n' "$index" "$content" > "$out"
      fi
    '' ];
  };
  nodes = builtins.genList node count;
in {
  all = derivation {
    name = "all";
    inherit system salt nodes;
    builder = shell;
    # The list of n store paths can exceed the kernel's limit on one
    # environment string: hand it over as a file.
    passAsFile = [ "nodes" ];
    args = [ "-c" ''
      /bin/mkdir "$out"
      read -r -a paths < "$nodesPath"
      index=0
      for path in "''${paths[@]}"; do
        IFS= read -r -d "" content < "$path"
        printf '%s' "$content" > "$out/node-$index.txt"
        index=$((index + 1))
      done
    '' ];
  };
}
