#!/usr/bin/env bash
# Scaffolds a new chef from chefs/LANG/template:  scripts/new-chef.sh LANG Name
#
# Name is the chef's name in dumplings (CamelCase, e.g. DnsCountChef); the
# chef's folder is its kebab-case form (chefs/LANG/dns-count-chef) and `just
# chefs` builds it into target/polyglot/LANG/dns_count_chef.wasm. In the
# copied files, ChefTemplate becomes Name, chef-template the kebab-case form
# and chef_template the snake_case form.
set -euo pipefail
cd "$(dirname "$0")/.."
lang="${1:?usage: new-chef.sh LANG Name}"
name="${2:?usage: new-chef.sh LANG Name}"
if [ ! -d "chefs/$lang/template" ]; then
    echo "new-chef: no template for '$lang' (have: $(ls -d chefs/*/template | cut -d/ -f2 | tr '\n' ' '))" >&2
    exit 2
fi
if ! [[ "$name" =~ ^[A-Z][A-Za-z0-9]*$ ]]; then
    echo "new-chef: the name must be CamelCase letters and digits, like DnsCountChef" >&2
    exit 2
fi
kebab=$(echo "$name" | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr 'A-Z' 'a-z')
snake=${kebab//-/_}
dest="chefs/$lang/$kebab"
if [ -e "$dest" ]; then
    echo "new-chef: $dest already exists" >&2
    exit 2
fi
cp -r "chefs/$lang/template" "$dest"
find "$dest" -type f -print0 | xargs -0 sed -i \
    -e "s/ChefTemplate/$name/g" -e "s/chef-template/$kebab/g" -e "s/chef_template/$snake/g"
# File names carrying the placeholder too (e.g. a C source named after the chef).
find "$dest" -depth -name '*chef_template*' -o -depth -name '*chef-template*' | while read -r f; do
    base=$(basename "$f"); base=${base//chef_template/$snake}; base=${base//chef-template/$kebab}
    mv "$f" "$(dirname "$f")/$base"
done
if [ "$lang" = rust ]; then
    # A new member of the Rust chefs' workspace.
    sed -i -E "s|^members = \[\"sdk\", |members = [\"sdk\", \"$kebab\", |" chefs/rust/Cargo.toml
    grep -q "\"$kebab\"" chefs/rust/Cargo.toml || { echo "new-chef: add \"$kebab\" to members in chefs/rust/Cargo.toml" >&2; exit 1; }
fi
echo "new-chef: created $dest; build it with \`just chefs\`, then try it:"
echo "  target/release/nd-sniff --read FILE --print --chef-dir target/polyglot/$lang -c $name"
