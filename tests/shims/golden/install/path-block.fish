# >>> codetracer >>>
# Added by CodeTracer (install-on-path); `ctbundle uninstall-from-path` or the
# CodeTracer menu removes this block. Puts the ct launchers on PATH once.
if not contains -- '/Users/Jane O\'Neil/.local/share/codetracer/shell-launchers' $PATH
    set -gx PATH '/Users/Jane O\'Neil/.local/share/codetracer/shell-launchers' $PATH
end
# <<< codetracer <<<
