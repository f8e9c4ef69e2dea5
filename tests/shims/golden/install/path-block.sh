# >>> codetracer >>>
# Added by CodeTracer (install-on-path); `ctbundle uninstall-from-path` or the
# CodeTracer menu removes this block. Puts the ct launchers on PATH once.
codetracer_launchers='/Users/Jane O'"'"'Neil/.local/share/codetracer/shell-launchers'
case ":${PATH-}:" in
  *:"$codetracer_launchers":*) ;;
  *) PATH="$codetracer_launchers${PATH:+:$PATH}"; export PATH ;;
esac
unset codetracer_launchers
# <<< codetracer <<<
