# Sourced by scripts/regenerate_*.sh: their results stay under outputs/ and reach docs/ only when asked.
#   PUBLISH=<folder>   copy them there (each script says what goes where)
#   REPLACE=true       ... even into a folder that already holds files (its files are removed first)
# A publishing folder that holds files is refused in one line, before anything runs and again before the copy,
# unless REPLACE=true: published results are never overwritten by a run that was not asked to.

publish_refused() {  # folder...: exit 1 in one line if one of them holds files and REPLACE is not true
  local folder
  [ "${REPLACE:-false}" = true ] && return 0
  for folder in "$@"; do
    if [ -n "$(ls -A "$folder" 2>/dev/null)" ]; then
      echo "$(basename "$0"): $folder already holds files: REPLACE=true to replace them, or publish elsewhere" >&2
      exit 1
    fi
  done
}

publish() {  # from to: the contents of folder `from` into folder `to`
  publish_refused "$2"
  rm -rf "$2" && mkdir -p "$2"
  cp -r "$1/." "$2/"
  echo "$(basename "$0"): published $1 into $2"
}
